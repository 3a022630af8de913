"""Relabelling "Free Items" by what their display name says they are.

TF-IDF over character n-grams (scikit-learn) so that "Watch" meets "Watches" and "Tie" meets "Ties"
without a stemmer. Each class is described by its name and the article types it holds in the taxonomy
("Eyewear" alone would never match "Sunglasses"). Below the similarity floor no class matches (the taxonomy
then places the item as Unknown).
"""
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.metrics.pairwise import linear_kernel


class Relabeler:
    """Fitted once per taxonomy, from its classes and each class's article types; `match` is then a pure
    function of the display name."""

    def __init__(self, classes, articles, min_similarity):
        self.classes = list(classes)
        self.min_similarity = min_similarity
        documents = [' '.join([name] + articles.get(name, [])) for name in self.classes]
        self._vectorizer = TfidfVectorizer(analyzer='char_wb', ngram_range=(3, 5), sublinear_tf=True)
        self._class_vectors = self._vectorizer.fit_transform(documents)

    def match_many(self, display_names):
        """Returns (the class, or None below the similarity floor; the best class; its similarity) for each name."""
        similarities = linear_kernel(self._vectorizer.transform(display_names), self._class_vectors)
        results = []
        for row in similarities:
            best = int(row.argmax())
            similarity = float(row[best])
            label = self.classes[best] if similarity >= self.min_similarity else None
            results.append((label, self.classes[best], round(similarity, 4)))
        return results

    def match(self, display_name):
        return self.match_many([display_name])[0]
