"""The array validation helpers shared by the typed containers."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from soccerfactory.curation.arrays import (
    as_float,
    as_int64,
    check_length,
    check_shape,
    readonly,
    row_index,
    to_numpy,
    vector,
)


def test_importing_arrays_and_camera_does_not_import_torch_or_cv2():
    code = (
        "import sys, soccerfactory.curation.arrays, soccerfactory.curation.camera; "
        "print('torch' in sys.modules, 'cv2' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False False"


def test_readonly_is_a_view_and_leaves_the_callers_flags():
    arr = np.arange(4)
    view = readonly(arr)
    assert np.shares_memory(view, arr)
    assert arr.flags.writeable and not view.flags.writeable
    with pytest.raises(ValueError):
        view[0] = 1


def test_as_float_coerces_and_rejects():
    out = as_float("Box", "xy", [1, 2], np.float32)
    assert out.dtype == np.float32 and out.tolist() == [1.0, 2.0]
    with pytest.raises(ValueError, match="Box.xy must be numeric"):
        as_float("Box", "xy", ["a"], np.float32)
    with pytest.raises(ValueError, match="Box.xy must be finite"):
        as_float("Box", "xy", [1.0, np.nan], np.float64)


def test_as_int64_accepts_integral_floats_only():
    assert as_int64("Box", "id", np.array([1.0, 2.0])).dtype == np.int64
    assert as_int64("Box", "id", []).dtype == np.int64
    with pytest.raises(ValueError, match="non-integral"):
        as_int64("Box", "id", [1.5])
    with pytest.raises(ValueError, match="must be integer"):
        as_int64("Box", "id", np.array([True]))


def test_vector_and_shape_checks():
    assert vector(np.array([])).shape == (0,)
    assert vector(np.zeros((0, 3))).shape == (0,)
    check_shape("Box", "xyxy", np.zeros((2, 4)), (None, 4))
    with pytest.raises(ValueError, match=r"Box.xyxy must have shape \(N, 4\), got \(2, 3\)"):
        check_shape("Box", "xyxy", np.zeros((2, 3)), (None, 4))
    with pytest.raises(ValueError, match=r"Box.v must have shape \(N,\)"):
        check_shape("Box", "v", np.zeros((2, 1)), (None,))
    check_length("Box", "v", np.zeros(3), 3)
    with pytest.raises(ValueError, match="must have length 2"):
        check_length("Box", "v", np.zeros(3), 2)
    with pytest.raises(ValueError, match="must have length 2"):
        check_length("Box", "v", np.float64(1.0), 2)


def test_row_index_forms():
    assert row_index(-1, 5) == slice(4, 5)
    assert row_index(slice(1, 3), 5) == slice(1, 3)
    assert row_index([], 5).dtype == np.int64
    assert row_index(np.array([2, 0], dtype=np.int32), 5).dtype == np.int64
    assert row_index([True, False], 2).tolist() == [True, False]
    with pytest.raises(TypeError, match="bare bool"):
        row_index(True, 5)
    with pytest.raises(IndexError, match="out of range"):
        row_index(5, 5)
    with pytest.raises(IndexError, match="length 1, expected 2"):
        row_index([True], 2)
    with pytest.raises(IndexError, match="1-D"):
        row_index([[0]], 2)
    with pytest.raises(TypeError, match="unsupported"):
        row_index(np.array([0.5]), 2)


def test_to_numpy_duck_types_tensors():
    class FakeTensor:
        def detach(self):
            return self

        def cpu(self):
            return self

        def numpy(self):
            return np.array([1.0, 2.0])

    assert to_numpy(FakeTensor()).tolist() == [1.0, 2.0]
    assert to_numpy([3, 4]).tolist() == [3, 4]


def test_components_joins_transitively_and_keeps_lone_nodes():
    from soccerfactory.curation.arrays import components

    # 0-2 and 2-4 make one component through 2; 1 and 3 have no edge; 5-6 a pair.
    assert components(7, [(4, 2), (2, 0), (6, 5)]) == [[0, 2, 4], [1], [3], [5, 6]]


def test_components_does_not_depend_on_edge_order_and_takes_numpy_ints():
    from soccerfactory.curation.arrays import components

    rng = np.random.default_rng(3)
    edges = [(int(a), int(b)) for a, b in rng.integers(0, 40, size=(25, 2))]
    expected = components(40, edges)
    for _ in range(5):
        shuffled = [edges[k] for k in rng.permutation(len(edges))]
        assert components(40, [(np.int64(b), np.int64(a)) for a, b in shuffled]) == expected
    # every node exactly once, each group ascending, groups ordered by their smallest node
    flat = [i for group in expected for i in group]
    assert sorted(flat) == list(range(40))
    assert all(group == sorted(group) for group in expected)
    assert [group[0] for group in expected] == sorted(group[0] for group in expected)


def test_components_of_nothing_and_self_edges():
    from soccerfactory.curation.arrays import components

    assert components(0, []) == []
    assert components(2, [(1, 1), (0, 0)]) == [[0], [1]]


@pytest.mark.parametrize("n, edges", [(-1, []), (3, [(0, 3)]), (3, [(-1, 0)])])
def test_components_refuses_nodes_outside_the_graph(n, edges):
    from soccerfactory.curation.arrays import components

    with pytest.raises(ValueError, match="components"):
        components(n, edges)
