"""Reading path tables: the flat representation, duplicate paths, separators, bad rows, and the
`upmarket attribution` command's CSV reader."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from upmarket.models.attribution import BadPaths, Paths, attribute, parse_paths


def frame(paths, conv, value=None, null=None, dtype=None):
    df = pd.DataFrame({"path": pd.Series(paths, dtype=dtype), "total_conversions": conv})
    if value is not None:
        df["total_conversion_value"] = value
    if null is not None:
        df["total_null"] = null
    return df


def test_flat_representation_and_duplicates():
    # the same path written three ways is one path; first seen first; channels sorted
    d = parse_paths(frame(["b > a", "a>c", " b>a ", "b  >  a", "c"], [1, 2, 3, 4, 5],
                          [10.0, 20.0, 30.0, 40.0, 50.0], [1, 0, 0, 2, 0]))
    assert isinstance(d, Paths) and len(d) == 3
    assert d.channels == ["a", "b", "c"]
    assert d.paths == [("b", "a"), ("a", "c"), ("c",)]
    assert d.conversions.tolist() == [8, 2, 5] and d.value.tolist() == [80.0, 20.0, 50.0]
    assert d.null.tolist() == [3, 0, 0]
    # codes and offsets spell the same paths
    assert d.offsets.tolist() == [0, 2, 4, 5] and d.lengths.tolist() == [2, 2, 1]
    assert [d.channels[c] for c in d.codes] == ["b", "a", "a", "c", "c"]
    path_of, pos = d.touch_index()
    assert path_of.tolist() == [0, 0, 1, 1, 2] and pos.tolist() == [0, 1, 0, 1, 0]
    # optional columns default to zero, and a Paths passes through untouched
    e = parse_paths(frame(["x > y"], [2]))
    assert e.value.tolist() == [0.0] and e.null.tolist() == [0.0]
    assert parse_paths(e) is e


def test_separators():
    assert parse_paths(frame(["a -> b", "c->a"], [1, 1]), sep="->").paths == [("a", "b"),
                                                                              ("c", "a")]
    assert parse_paths(frame(["a  b", " c\ta "], [1, 1]), sep=" ").paths == [("a", "b"),
                                                                            ("c", "a")]
    # channel names keep their inner spaces
    assert parse_paths(frame(["paid search > e mail"], [1])).paths == [("paid search", "e mail")]


@pytest.mark.parametrize("df, match", [
    (frame(["a", 5], [1, 1], dtype=object), "row 2: path is empty"),
    (frame(["a", None], [1, 1]), "row 2: path is empty"),
    (frame(["a", "   "], [1, 1]), "row 2: path is empty"),
    (frame(["a > b", "a >"], [1, 1]), "row 2: .*empty channel"),
    (frame(["a", "> b"], [1, 1]), "row 2: .*empty channel"),
    (frame(["a", "b\x1fc"], [1, 1]), "row 2: .*control character"),
    (frame(["a", "b"], [1, 0], [0.0, 3.0]), "row 2: .*value 3.0 but no conversions"),
    (frame(["a"], [float("nan")]), "row 1: total_conversions is empty"),
    (frame(["a"], [1], None, [-1]), "row 1: total_null must be"),
])
def test_bad_rows(df, match):
    with pytest.raises(BadPaths, match=match):
        parse_paths(df)


name = st.text(alphabet="abcxyz ", min_size=1, max_size=4).filter(lambda s: s.strip())


@settings(max_examples=50, deadline=None)
@given(st.lists(st.tuples(st.lists(name, min_size=1, max_size=4), st.integers(0, 5),
                          st.integers(0, 5)), min_size=1, max_size=8),
       st.sampled_from([">", " > ", ">  "]))
def test_parse_agrees_with_plain_python(rows, joiner):
    """Against a reading written with str.split and a dict: same paths (first seen first), same
    sums, whether the column is Arrow-backed text or Python objects."""
    paths = [joiner.join(r[0]) for r in rows]
    expect: dict[tuple[str, ...], list[float]] = {}
    for p, (_, c, n) in zip(paths, rows):
        key = tuple(t.strip() for t in p.split(">"))
        acc = expect.setdefault(key, [0.0, 0.0])
        acc[0] += c
        acc[1] += n
    for dtype in ("str", object):
        d = parse_paths(frame(paths, [r[1] for r in rows], None, [r[2] for r in rows], dtype))
        assert d.paths == list(expect)
        assert d.conversions.tolist() == [v[0] for v in expect.values()]
        assert d.null.tolist() == [v[1] for v in expect.values()]
        assert d.channels == sorted({c for k in expect for c in k})


def test_heuristics_per_touch_weights_match_per_path_sums():
    # vectorised per-touch credit equals crediting each path on its own
    rng = np.random.default_rng(5)
    rows = [(" > ".join(rng.choice(list("abcd"), int(rng.integers(1, 7)))),
             int(rng.integers(1, 9))) for _ in range(40)]
    df = frame([r[0] for r in rows], [r[1] for r in rows])
    for model in ("first", "last", "linear", "time-decay", "position"):
        whole = attribute(df, model).set_index("channel").conversions
        parts = sum(attribute(df.iloc[[i]], model).set_index("channel").conversions
                    .reindex(whole.index, fill_value=0.0) for i in range(len(df)))
        assert whole.to_dict() == pytest.approx(parts.to_dict()), model


# ---- the command's reader ---------------------------------------------------------------------

runner = CliRunner()


def _run(*args):
    from upmarket.cli import app

    return runner.invoke(app, ["attribution", *args])


def test_cli_reads_csv_and_tsv_and_merges_duplicate_paths(tmp_path):
    csv = tmp_path / "p.csv"
    csv.write_text("path,total_conversions,total_conversion_value,total_null\n"
                   "search > email,3,30,1\nsearch>email,1,10,0\nsocial,0,0,5\n")
    out = json.loads(_run("--paths", str(csv), "--model", "last", "--json").stdout)
    assert out["paths"] == 2 and out["total_conversions"] == 4 and out["total_value"] == 40
    tsv = tmp_path / "p.tsv"
    tsv.write_text("path\ttotal_conversions\nsearch > email\t4\n")
    out = json.loads(_run("--paths", str(tsv), "--model", "first", "--json").stdout)
    assert {r["channel"]: r["conversions"] for r in out["channels"]} == {"search": 4.0,
                                                                        "email": 0.0}


@pytest.mark.parametrize("content", [
    b"path,total_conversions\na,1,2,3\n",  # a row with more fields than the header
    b"",  # empty file
    b"path,total_conversions\n\xff\xfe\xb2\xe2,1\n",  # not UTF-8
])
def test_cli_unreadable_file_is_a_clear_error(tmp_path, content):
    f = tmp_path / "bad.csv"
    f.write_bytes(content)
    result = _run("--paths", str(f), "--json")
    assert result.exit_code == 2
    assert "bad.csv" in result.stderr and "Traceback" not in result.output
