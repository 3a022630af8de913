"""Each kind of evidence short of both heads gets a bar of its own, fitted on flags of that kind alone."""
import numpy as np

from pipelines.rules import leaves as leaves_lib
from trainer import full_labels
from tests.rules.test_leaves import COUNTS, _class_of

GROUPS = {'Bags': 'Accessories', 'Topwear': 'Apparel', 'Tshirts': 'Apparel'}


def _val(seed=3, n=900):
    """Val outputs where the image is always right; the name is blank for a third of the items (it flags
    nothing there, so flipped labels are caught on the image's evidence alone) and, with the fused head,
    confidently wrong for a fifth (the name's own errors: false flags on its evidence alone)."""
    leaves = leaves_lib.fit(COUNTS, tuple(GROUPS), _class_of)
    rng = np.random.default_rng(seed)
    known = np.flatnonzero(~leaves.is_other())
    leaf = rng.choice(known, size=n)
    sure = np.full((n, len(leaves.article_types)), 0.002)
    sure[np.arange(n), leaf] = 1.0
    image = sure / sure.sum(axis=1, keepdims=True)
    blank, wrong = np.arange(n) % 3 == 0, np.arange(n) % 5 == 1
    wrong &= ~blank
    name, fused = image.copy(), image.copy()
    name[blank] = 1.0 / len(leaves.article_types)
    neighbour = np.array([leaves.index('Tunics') if leaves.article_types[i] == 'Tops' else leaves.index('Tops')
                          for i in leaf])
    for p in (name, fused):
        p[wrong] = 0.002
        p[np.flatnonzero(wrong), neighbour[wrong]] = 1.0
        p[wrong] /= p[wrong].sum(axis=1, keepdims=True)
    class_index = np.array([leaves.classes.index(leaves.class_names[i]) for i in leaf])
    outputs = {'leaf': leaf, 'known': np.ones(n, bool), 'class_index': class_index}
    return leaves, outputs, {'fused': fused, 'image_only': image, 'name_only': name}


def test_a_kind_whose_flags_are_all_false_flags_nothing_and_a_precise_kind_keeps_its_threshold():
    leaves, outputs, calibrated = _val()
    evidence = {head: full_labels.flag_fits(calibrated[head], outputs, leaves, GROUPS)
                for head in ('image_only', 'name_only')}
    fits = full_labels.single_evidence_fits(calibrated, outputs, leaves, GROUPS, evidence,
                                            {'class': 0.0, 'type': 0.0})
    assert fits['type']['image']['max_given_probability'] > 0.0 and fits['type']['image']['fallback'] is None
    assert fits['type']['name']['max_given_probability'] == 0.0 and 'nothing is flagged' in fits['type']['name'][
        'fallback']
    assert set(fits) == {'class', 'type'} and all(set(kinds) == set(full_labels.SINGLE_EVIDENCE)
                                                  for kinds in fits.values())
