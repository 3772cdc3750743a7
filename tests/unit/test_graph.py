"""graph: edges from paths and `needs`, the checks build() makes, selection and order."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

from mlpipe.core import graph
from mlpipe.errors import CycleError, SpecError, UsageError
from mlpipe.spec.model import PipelineSpec, StageSpec

PIPELINE_FILE = Path("/proj/mlpipe.yaml")


def stage(name: str, deps: Sequence[str] = (), outs: Sequence[str] = (),
          needs: Sequence[str] = (), line: int | None = None) -> StageSpec:
    return StageSpec(name=name, kind="command", config={"cmd": f"make {name}"}, deps=tuple(deps),
                     outs=tuple(outs), needs=tuple(needs), line=line)


def pipeline(*stages: StageSpec) -> PipelineSpec:
    return PipelineSpec(path=PIPELINE_FILE, name="proj", params={}, stages=stages)


def always(path: str) -> bool:
    return True


def build(*stages: StageSpec, exists: Callable[[str], bool] = always) -> graph.StageGraph:
    return graph.build(pipeline(*stages), exists=exists)


def edges(g: graph.StageGraph) -> set[tuple[str, str]]:
    return set(g.edges)


def names(stages: Sequence[StageSpec]) -> list[str]:
    return [s.name for s in stages]


class TestEdges:
    @pytest.mark.parametrize(("out", "dep"), [
        pytest.param("data/clean.csv", "data/clean.csv", id="exact-path"),
        pytest.param("data", "data/clean.csv", id="dep-inside-output-dir"),
        pytest.param("data/a/clean.csv", "data", id="dep-dir-holds-output"),
        pytest.param("data/a", "data/a/b/c.csv", id="deep-inside-output-dir"),
    ])
    def test_path_relations_make_an_edge(self, out: str, dep: str) -> None:
        g = build(stage("make", deps=["raw.csv"], outs=[out]), stage("use", deps=[dep]))
        assert edges(g) == {("make", "use")}
        assert g.upstream("use") == ["make"]

    @pytest.mark.parametrize(("out", "dep"), [
        pytest.param("data", "database.csv", id="name-prefix"),
        pytest.param("data", "data-v2/x.csv", id="sibling-dir"),
        pytest.param("data/x.csv", "data/x.csv.bak", id="file-prefix"),
        pytest.param("a/b", "a/c", id="cousin"),
    ])
    def test_unrelated_paths_make_no_edge(self, out: str, dep: str) -> None:
        g = build(stage("make", outs=[out]), stage("use", deps=[dep]))
        assert edges(g) == set()

    def test_needs_makes_an_edge_without_a_path(self) -> None:
        g = build(stage("setup"), stage("train", needs=["setup"]))
        assert edges(g) == {("setup", "train")}

    def test_one_dep_dir_with_several_writers(self) -> None:
        g = build(stage("a", outs=["data/a.csv"]), stage("b", outs=["data/b.csv"]),
                  stage("c", outs=["other.csv"]), stage("use", deps=["data"]))
        assert edges(g) == {("a", "use"), ("b", "use")}
        assert g.writers("data") == {"a", "b"}

    def test_an_edge_is_made_whatever_the_file_order(self) -> None:
        g = build(stage("use", deps=["x.csv"]), stage("make", outs=["x.csv"]))
        assert edges(g) == {("make", "use")}
        assert names(g.order()) == ["make", "use"]

    def test_exists_is_only_asked_about_deps_nobody_writes(self) -> None:
        asked: list[str] = []

        def exists(path: str) -> bool:
            asked.append(path)
            return True

        build(stage("make", deps=["raw.csv"], outs=["x.csv"]), stage("use", deps=["x.csv"]),
              exists=exists)
        assert asked == ["raw.csv"]


class TestChecks:
    def test_two_stage_cycle(self) -> None:
        with pytest.raises(CycleError, match=r"^/proj/mlpipe\.yaml:3: stage 'a': "
                                             r"dependency cycle: a -> b -> a$") as info:
            build(stage("a", deps=["b.txt"], outs=["a.txt"], line=3),
                  stage("b", deps=["a.txt"], outs=["b.txt"], line=7))
        assert info.value.cycle == ("a", "b")

    def test_three_stage_cycle_through_needs(self) -> None:
        with pytest.raises(CycleError, match=r"dependency cycle: a -> b -> c -> a$"):
            build(stage("a", outs=["a.txt"], needs=["c"]), stage("b", deps=["a.txt"]),
                  stage("c", needs=["b"]))

    @pytest.mark.parametrize("self_loop", [
        pytest.param(stage("a", deps=["out/x.csv"], outs=["out"], line=2), id="reads-own-out"),
        pytest.param(stage("a", deps=["out"], outs=["out/x.csv"], line=2), id="reads-own-dir"),
        pytest.param(stage("a", needs=["a"], line=2), id="needs-itself"),
    ])
    def test_self_cycle(self, self_loop: StageSpec) -> None:
        with pytest.raises(CycleError, match=r":2: stage 'a': dependency cycle: a -> a$"):
            build(self_loop)

    @pytest.mark.parametrize(("first", "second", "clash"), [
        pytest.param("model.pkl", "model.pkl", "model.pkl", id="same-file"),
        pytest.param("out", "out/model.pkl", "out/model.pkl", id="file-inside-dir"),
        pytest.param("out/model.pkl", "out", "out", id="dir-around-file"),
    ])
    def test_two_writers_of_one_path(self, first: str, second: str, clash: str) -> None:
        with pytest.raises(SpecError, match=rf"^/proj/mlpipe\.yaml:9: stage 'two': output "
                                            rf"'{clash}' is also written by stage 'one' "
                                            rf"\(each path may have one writer\)$") as info:
            build(stage("one", outs=[first], line=4), stage("two", outs=[second], line=9))
        assert info.value.stage == "two"

    def test_missing_dep_nobody_writes_names_the_stage(self) -> None:
        with pytest.raises(SpecError, match=r"^/proj/mlpipe\.yaml:5: stage 'train': "
                                            r"dep 'data/raw.csv' does not exist and no stage "
                                            r"writes it$"):
            build(stage("prep", outs=["data/clean.csv"], line=2),
                  stage("train", deps=["data/raw.csv"], line=5), exists=lambda path: False)

    def test_a_written_dep_need_not_exist_yet(self) -> None:
        g = build(stage("prep", outs=["data"]), stage("train", deps=["data/clean.csv"]),
                  exists=lambda path: False)
        assert edges(g) == {("prep", "train")}

    def test_needs_an_unknown_stage(self) -> None:
        with pytest.raises(SpecError, match=r"stage 'train': 'needs' names unknown stage "
                                            r"'prpe' \(did you mean 'prep'\?\)$"):
            build(stage("prep"), stage("train", needs=["prpe"]))


def chain() -> graph.StageGraph:
    """prep -> featurize -> train -> report, plus `lint` on its own."""
    return build(
        stage("prep", deps=["raw.csv"], outs=["clean.csv"]),
        stage("lint"),
        stage("featurize", deps=["clean.csv"], outs=["features.csv"]),
        stage("train", deps=["features.csv"], outs=["model.pkl"]),
        stage("report", deps=["model.pkl", "clean.csv"], outs=["report.md"]),
    )


class TestSelection:
    def test_no_targets_is_everything(self) -> None:
        g = chain()
        assert g.select([]) is g
        assert names(g.order()) == ["prep", "lint", "featurize", "train", "report"]

    def test_targets_pull_in_their_ancestors(self) -> None:
        assert names(chain().select(["train"]).order()) == ["prep", "featurize", "train"]

    def test_downstream_gives_descendants(self) -> None:
        selected = chain().select(["featurize"], downstream=True)
        assert names(selected.order()) == ["featurize", "train", "report"]

    @pytest.mark.parametrize("downstream", [False, True])
    def test_no_deps_is_only_the_targets(self, downstream: bool) -> None:
        selected = chain().select(["train", "prep"], no_deps=True, downstream=downstream)
        assert names(selected.order()) == ["prep", "train"]
        assert edges(selected) == set()

    def test_several_targets_union(self) -> None:
        assert names(chain().select(["lint", "featurize"]).order()) == [
            "prep", "lint", "featurize"]

    def test_selection_keeps_the_whole_spec_but_filters_writers(self) -> None:
        selected = chain().select(["featurize"], no_deps=True)
        assert selected.spec.names == ("prep", "lint", "featurize", "train", "report")
        assert selected.writers("clean.csv") == set()
        assert selected.writers("features.csv") == {"featurize"}

    @pytest.mark.parametrize(("target", "pattern"), [
        ("trian", r"^unknown stage 'trian' \(did you mean 'train'\?\); stages: prep, lint, "
                  r"featurize, train, report$"),
        ("zzz", r"^unknown stage 'zzz'; stages: "),
    ])
    def test_unknown_target(self, target: str, pattern: str) -> None:
        with pytest.raises(UsageError, match=pattern):
            chain().select(["prep", target])


class TestOrder:
    def test_ties_follow_file_order_not_names(self) -> None:
        g = build(stage("zeta"), stage("alpha"), stage("mid"))
        assert names(g.order()) == ["zeta", "alpha", "mid"]

    def test_topological_with_file_order_ties(self) -> None:
        g = build(
            stage("report", deps=["b.txt", "a.txt"]),
            stage("b", deps=["c.txt"], outs=["b.txt"]),
            stage("a", outs=["a.txt"]),
            stage("c", outs=["c.txt"]),
        )
        assert names(g.order()) == ["a", "c", "b", "report"]
        assert g.upstream("report") == ["b", "a"]

    def test_diamond(self) -> None:
        g = build(
            stage("join", deps=["l.txt", "r.txt"]),
            stage("right", deps=["src.txt"], outs=["r.txt"]),
            stage("left", deps=["src.txt"], outs=["l.txt"]),
            stage("source", outs=["src.txt"]),
        )
        order = names(g.order())
        assert order == ["source", "right", "left", "join"]


class TestInterop:
    def test_a_cycle_is_named_from_its_first_stage_in_the_file(self) -> None:
        with pytest.raises(CycleError, match=r"stage 'b': dependency cycle: b -> c -> d -> b$"):
            build(stage("a", outs=["a.txt"]), stage("b", deps=["d.txt"], outs=["b.txt"]),
                  stage("c", deps=["b.txt"], outs=["c.txt"]),
                  stage("d", deps=["c.txt"], outs=["d.txt"]))

    def test_to_networkx_is_the_same_selection(self) -> None:
        g = build(stage("a", outs=["a.txt"]), stage("b", deps=["a.txt"], outs=["b.txt"]),
                  stage("c", deps=["a.txt"]), stage("d", deps=["b.txt"])).select(["d"])
        dag = g.to_networkx()
        assert list(dag.nodes) == ["a", "b", "d"]
        assert set(dag.edges) == {("a", "b"), ("b", "d")} == edges(g)
        assert g.downstream("a") == ["b"]
