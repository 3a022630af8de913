"""Each reviewer's slice of the queue, and the items two of them share on purpose."""
from pipelines.rules import slices

IDS = [str(i) for i in range(10000, 14000)]
TEAM = ['ana', 'bo', 'chen']


def test_every_item_has_one_owner_and_about_five_percent_a_second():
    counts = [len(slices.owners(i, TEAM)) for i in IDS]
    assert set(counts) == {1, 2}
    assert 0.04 < counts.count(2) / len(IDS) < 0.06


def test_slices_are_even_and_adding_a_reviewer_moves_only_their_share():
    first = {i: slices.owners(i, TEAM)[0] for i in IDS}
    for name in TEAM:
        assert 0.28 < list(first.values()).count(name) / len(IDS) < 0.39
    grown = {i: slices.owners(i, [*TEAM, 'dee'])[0] for i in IDS}
    moved = [i for i in IDS if grown[i] != first[i]]
    assert all(grown[i] == 'dee' for i in moved) and 0.2 < len(moved) / len(IDS) < 0.3


def test_the_order_puts_the_reviewers_slice_first_and_keeps_the_queue_order_within():
    items = [{'id': i} for i in IDS[:200]]
    ordered = slices.own_first(items, 'bo', TEAM)
    mine = [r['id'] for r in ordered if 'bo' in slices.owners(r['id'], TEAM)]
    assert [r['id'] for r in ordered[:len(mine)]] == mine == [r['id'] for r in items if r['id'] in set(mine)]
    assert sorted(r['id'] for r in ordered) == sorted(IDS[:200])


def test_a_shared_item_gets_a_second_look_from_its_other_owner_only_until_they_decide():
    shared = next(i for i in IDS if slices.is_shared(i))
    first, second = slices.owners(shared, TEAM)
    outsider = next(name for name in TEAM if name not in (first, second))
    assert slices.second_look(shared, second, TEAM, decided=set())
    assert not slices.second_look(shared, second, TEAM, decided={shared})
    assert not slices.second_look(shared, outsider, TEAM, decided=set())
    plain = next(i for i in IDS if not slices.is_shared(i))
    assert not slices.second_look(plain, slices.owners(plain, TEAM)[0], TEAM, decided=set())
    assert not slices.second_look(shared, None, TEAM, decided=set())
