"""The audit's precision on real errors, as judged blind by eye (benchmarks/judged/), quoted where the audit states
how far its issues can be trusted.

The audit also estimates its issues' precision at the catalog's own noise rate from injected flips
(rules/flag_fit.py). On the real catalog that estimate did not hold: it read 0.071 (95% 0.030-0.126) where the
judged sample found 0.14, because the catalog's own errors are mostly neighbours and items whose name is as wrong
as the label, unlike injected flips. So the audit no longer publishes it; it quotes the latest judged figures,
with their date, from schemas/judged.json (written by `benchmarks/judged/sample.py figures --quote`).

The same holds for the score and nightly flags: the estimate at the val split's own rate read 0.12 (95%
0.00-0.26) where their real flags on the catalog's val and test items were judged far more precise, so the
summaries quote the judged flags instead (`flags_line`).
"""
import importlib.resources
import json

from pipelines import artifacts

SHIPPED_PATH = str(importlib.resources.files('schemas') / artifacts.JUDGED)


def load(path=SHIPPED_PATH):
    with open(path, encoding='utf-8') as f:
        return json.load(f)


def summary_line(judged):
    """The sentence the audit's summary and report quote."""
    top = judged['top']
    unflagged, recall = judged['unflagged'], judged.get('pooled_recall')
    low, high = unflagged['wilson95']
    return (f'precision on real errors, judged blind on {judged["judged_on"]} ({judged["sample"]}; ranking '
            f'{judged["ranking"]}): of the top {top["count"]} issues {top["wrong"]} wrong and {top["arguable"]} '
            f'arguable (a neighbour or taxonomy question); of {unflagged["judged"]} random unflagged items '
            f'{unflagged["wrong"]} wrong (95% {low:.1%}-{high:.1%})' + (
                f'; the list held {recall["in_list"]} of the {recall["wrong_judged"]} items judged wrong anywhere'
                if recall else '') + '. The precision estimated from injected flips is not trusted on real errors '
            'and is not published')


def flags_line(judged):
    """The sentence the score and nightly summaries quote for their flags, or None when no flags were judged."""
    flags = judged.get('flags')
    if not flags:
        return None
    low, high = flags['wilson95']
    return (f'flags on the real catalog\'s val and test items, judged blind on {judged["judged_on"]} '
            f'({judged["sample"]}): {flags["wrong"]} of {flags["judged"]} plainly wrong, precision '
            f'{flags["precision"]:.2f} (95% {low:.2f}-{high:.2f}); the precision estimated from injected flips is not '
            'trusted on real errors and is not published')
