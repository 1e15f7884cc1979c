"""The style table: cluster indices, vectors, copy, interpolation, seeded randomise, mapping, JSON."""

import numpy as np
import pytest
from p2phd.editor.document import Document
from p2phd.editor.errors import DocumentError
from p2phd.editor.styles import StyleTable
from p2phd.models.inputs.default_styles import default_cluster

CAR = 26


def test_default_rule_and_explicit_styles():
    table = StyleTable()
    assert table.get(26001) is None and table.effective(26001, 10) == default_cluster(26001, 10)
    table.set_style(26001, 3)
    assert table.effective(26001, 10) == 3
    table.set_vector(26002, [1, 2, 3])
    mapping = table.as_mapping()
    assert mapping[26001] == 3 and mapping[26002].dtype == np.float32
    mapping[26002][0] = 99  # a copy: the table is unchanged
    assert table.get(26002)[0] == 1


def test_copy_interpolate_randomize():
    table = StyleTable()
    table.set_vector(26001, [1, 1])
    table.copy_style(26001, 26002)
    np.testing.assert_array_equal(table.get(26002), [1, 1])
    centres = {CAR: np.array([[0, 0], [4, 8]], np.float32)}
    vec = table.interpolate(26003, 0, 1, 0.25, centres)
    np.testing.assert_array_equal(vec, [1, 2])
    np.testing.assert_array_equal(table.get(26003), [1, 2])
    a = table.randomize(26004, 7, seed=5)
    assert a == table.get(26004) and a == StyleTable().randomize(1, 7, seed=5) and 0 <= a < 7


@pytest.mark.parametrize(
    "call",
    [
        lambda t: t.set_style(26001, -1),
        lambda t: t.set_style(26001, 1.5),
        lambda t: t.set_vector(26001, [np.nan]),
        lambda t: t.set_vector(26001, [[1, 2]]),
        lambda t: t.interpolate(26001, 0, 1, 1.5, {CAR: np.zeros((2, 3))}),
        lambda t: t.interpolate(26001, 0, 5, 0.5, {CAR: np.zeros((2, 3))}),
        lambda t: t.interpolate(26001, 0, 1, 0.5, {}),
        lambda t: t.randomize(26001, 0),
        lambda t: t.set_style(-3, 1),
    ],
)
def test_bad_styles_are_clear_errors(call):
    with pytest.raises(DocumentError):
        call(StyleTable())


def test_json_round_trip_is_exact():
    table = StyleTable({26001: 4, 26002: np.array([0.1, -2.5e-8, 3.3], np.float32)})
    back = StyleTable.from_json(table.to_json())
    assert back.get(26001) == 4
    np.testing.assert_array_equal(back.get(26002), table.get(26002))
    with pytest.raises(DocumentError):
        StyleTable.from_json({"schema": 99, "objects": []})
    with pytest.raises(DocumentError):
        StyleTable.from_json({"schema": 1, "objects": [{"id": 1}]})


def test_style_changes_through_the_table_are_undoable():
    doc = Document(16, 16)
    doc.styles.set_style(26001, 2)  # directly on the table, as a GUI panel might
    doc.copy_style(26001, 26002)
    assert doc.history.undo_actions == ["style", "style"]
    doc.undo()
    assert 26002 not in doc.styles and doc.styles.get(26001) == 2
    doc.undo()
    assert len(doc.styles) == 0
    doc.redo()
    assert doc.styles.get(26001) == 2


def test_as_mapping_feeds_feature_map_format():
    doc = Document(16, 16)
    doc.set_style(26001, 1)
    doc.set_vector(26002, np.zeros(3))
    mapping = doc.styles.as_mapping()
    assert all(isinstance(v, (int, np.ndarray)) for v in mapping.values())
