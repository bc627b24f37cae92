"""The Strategy protocol, the strategy registry, the baselines, re-deriving a stage, and
the 0.1 development spellings that still work."""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
import torch

import cnas
from cnas.search import (
    Candidate,
    Derivation,
    Evolution,
    Phase,
    RandomSearch,
    Reinforce,
    Searcher,
    Strategy,
    UnknownStrategyError,
)
from cnas.search._evolution import mutate

SCRIPTS = Path(__file__).with_name("scripts")
sys.path.insert(0, str(SCRIPTS))
from plugins import install_dummy_distribution, run_python  # noqa: E402
from tiny_search import build  # noqa: E402

# -- the registry ---------------------------------------------------------------------------


def test_the_built_in_strategies_are_registered_by_name() -> None:
    assert cnas.search.list_strategies() == ["cnas", "darts", "evolution", "gdas", "random"]
    assert cnas.search.get_strategy("cnas") is Reinforce
    assert cnas.search.get_strategy("gdas").name == "gdas"  # not its base class's "darts"
    assert cnas.search.list_strategies("*s") == ["cnas", "darts", "gdas"]


def test_an_unknown_strategy_suggests_close_names() -> None:
    with pytest.raises(
        UnknownStrategyError, match="unknown strategy 'randon'; did you mean 'random'"
    ):
        cnas.search.get_strategy("randon")
    with pytest.raises(KeyError):  # UnknownStrategyError is a KeyError
        cnas.search.get_strategy("nope")


def test_registration_checks_the_name_and_the_class() -> None:
    with pytest.raises(ValueError, match="invalid strategy name 'Bad Name'"):
        cnas.search.register_strategy("Bad Name")
    with pytest.raises(ValueError, match="'random' is already registered"):
        cnas.search.register_strategy("random")(RandomSearch)
    with pytest.raises(TypeError, match="expected a subclass of cnas.search.Strategy"):
        cnas.search.register_strategy("not-a-strategy")(dict)  # type: ignore[type-var]

    class Half(Strategy):
        def architecture(self, *, warmup: bool = False) -> cnas.Genotype:
            raise NotImplementedError

    with pytest.raises(TypeError, match="does not implement derive"):
        cnas.search.register_strategy("half")(Half)
    with pytest.raises(UnknownStrategyError, match="cannot unregister unknown strategy"):
        cnas.search.unregister_strategy("half")


# -- settings ---------------------------------------------------------------------------------


def test_settings_come_from_the_constructor_with_their_defaults() -> None:
    settings = {s.name: s for s in cnas.search.strategy_settings(Reinforce)}
    assert settings["entropy_coeff"].default == 0.005
    assert settings["entropy_coeff"].type is float
    assert settings["baseline_decay"].flags == ("--baseline-decay", "--baseline_moving_gamma")
    assert settings["temperature"].optional and settings["temperature"].default is None
    assert "controller" not in settings  # not a simple type: no flag
    assert settings["derive_rounds"].help == "Rounds of candidates at the end of each stage"
    gdas = [s.name for s in cnas.search.strategy_settings(cnas.search.Gdas)]
    assert gdas == ["alpha_lr", "alpha_weight_decay", "tau_max", "tau_min"]
    assert Reinforce().settings()["controller_lr"] == 3e-4
    assert cnas.search.Darts().settings()["alpha_betas"] == [0.5, 0.999]


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: Reinforce(baseline_decay=1.0), "baseline_decay must be in"),
        (lambda: Reinforce(derive_rounds=0), "derive_rounds must be a positive integer"),
        (lambda: Reinforce(grad_clip=-1.0), "grad_clip must be positive"),
        (lambda: RandomSearch(num_candidates=0), "num_candidates must be a positive integer"),
        (lambda: Evolution(population_size=1), "population_size must be an integer >= 2"),
        (lambda: Evolution(sample_size=5, population_size=4), "cannot exceed population_size"),
        (
            lambda: Reinforce(cnas.Controller(cnas.SearchSpace()), hidden_size=64),
            "hidden_size configure the default controller",
        ),
        (lambda: Reinforce(op_tanh_reduce=0.0), "op_tanh_reduce must be positive"),
        (lambda: Reinforce(temperature=-1.0), "temperature must be positive"),
    ],
)
def test_strategies_validate_their_settings_when_made(make: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        make()


# -- the baselines ----------------------------------------------------------------------------


@pytest.fixture(scope="module", params=["random", "evolution"])
def baseline(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Any:
    out = tmp_path_factory.mktemp(request.param) / "run"
    searcher, train, val = build(str(out), request.param)
    return request.param, out, searcher, searcher.fit(train, val)


def test_the_baselines_train_on_uniform_samples_and_derive_within_each_stage(
    baseline: Any,
) -> None:
    name, out, _, result = baseline
    assert [r["phase"] for r in result.history] == ["warmup", "supernet"] * 4
    for stage in result.stages:
        assert stage.strategy == name
        assert stage.genotype in cnas.SearchSpace(stage.ops, stage.n_nodes)
        assert stage.genotype == stage.candidates[0].genotype
        accuracies = [c.accuracy for c in stage.candidates]
        assert accuracies == sorted(accuracies, reverse=True)
        assert len({c.genotype for c in stage.candidates}) == len(stage.candidates)
        assert stage.evaluated == (3 if name == "random" else 3 + 3)
        assert stage.accuracy_mean is not None
        assert stage.accuracy_mean <= stage.val_accuracy
    saved = json.loads((out / "stages" / "stage-2" / "result.json").read_text())
    assert cnas.search.StageResult.from_dict(saved) == result.stages[1]


def test_the_baselines_score_candidates_with_the_supernet_as_it_is(baseline: Any) -> None:
    _, _, searcher, result = baseline
    stage = result.stages[-1]
    # the last stage's weights are the supernet's now: its candidates score the same again
    for candidate in stage.candidates:
        assert searcher.evaluate(candidate.genotype) == pytest.approx(candidate.accuracy)


class _Counting(torch.utils.data.Dataset[Any]):
    """A dataset that counts the items read from it."""

    def __init__(self, data: Any) -> None:
        self.data, self.reads = data, 0

    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, i: int) -> Any:
        self.reads += 1
        return self.data[i]


@pytest.mark.parametrize("cache_bytes", [None, 0])
def test_a_derivation_loads_its_scoring_batches_once_and_scores_the_same(
    baseline: Any, monkeypatch: pytest.MonkeyPatch, cache_bytes: int | None
) -> None:
    _, _, searcher, result = baseline
    engine = searcher.engine
    if cache_bytes is not None:  # nothing fits: every candidate loads them again
        monkeypatch.setattr(cnas.search._engine, "SCORE_CACHE_BYTES", cache_bytes)
    data = _Counting(engine.score_data or engine.val_data)
    monkeypatch.setattr(engine, "score_data", data)
    monkeypatch.setattr(engine, "derive_batches", 2)
    genotypes = [c.genotype for c in result.stages[-1].candidates]
    want = [engine.evaluate(g, max_batches=2) for g in genotypes]
    one_pass, data.reads = data.reads // len(genotypes), 0
    assert one_pass == 2 * 16  # two batches of 16, and not one more
    engine.record_scores()
    got = [engine.score(g) for g in genotypes]
    assert [a for _, a in engine.recorded_scores()] == got == want
    assert len(genotypes) == 3
    # the first candidate streams them, the second keeps them, the third reuses them
    assert data.reads == one_pass * (3 if cache_bytes == 0 else 2)
    assert engine.score(genotypes[0]) == want[0]  # outside a derivation: loaded again
    assert data.reads == one_pass * (4 if cache_bytes == 0 else 3)
    engine.record_scores()
    engine.score(genotypes[0])  # a derivation of one candidate keeps nothing
    engine.recorded_scores()
    assert data.reads == one_pass * (5 if cache_bytes == 0 else 4)


def test_mutation_changes_one_edge_within_the_space() -> None:
    space = cnas.SearchSpace(["sep_conv_3x3", "max_pool_3x3", "none"], 3)
    gen = torch.Generator().manual_seed(0)
    parent = space.sample(generator=gen)
    kinds = set()
    for _ in range(200):
        child = mutate(parent, space, gen)
        assert child in space
        changed = [
            (a, b)
            for cell in ("normal", "reduce")
            for a, b in zip(getattr(parent, cell), getattr(child, cell), strict=True)
            if a != b
        ]
        assert len(changed) == 1
        ((a, b),) = changed
        assert a.dst == b.dst
        kinds.add("op" if a.op != b.op else "input")
        assert (a.op != b.op) != (a.src != b.src)
    assert kinds == {"op", "input"}
    one_op = cnas.SearchSpace(["sep_conv_3x3"], 2)
    g = one_op.sample(generator=gen)
    assert all(e.op == "sep_conv_3x3" for e in mutate(g, one_op, gen).normal)


def test_evolution_ages_out_its_oldest_member(monkeypatch: pytest.MonkeyPatch) -> None:
    # Each new architecture scores lower than the one before, and every member is sampled
    # (sample_size == population_size): the parent is the fittest living member. Ageing
    # evolution removes the oldest, however fit, so the first members parent once each
    # and then children take over; evolution that removed the worst would keep the first.
    space = cnas.SearchSpace(cnas.DARTS_OPS, 4)
    strategy = Evolution(population_size=3, sample_size=3, cycles=6, top_k=2)
    scores: dict[cnas.Genotype, float] = {}
    parents: list[cnas.Genotype] = []
    children: list[cnas.Genotype] = []

    def spy(genotype: cnas.Genotype, *args: Any) -> cnas.Genotype:
        parents.append(genotype)
        children.append(mutate(genotype, *args))
        return children[-1]

    class FakeEngine:
        generator = torch.Generator().manual_seed(0)

        def constrains(self, space: cnas.SearchSpace) -> bool:
            return False  # no budget

        def score(self, genotype: cnas.Genotype) -> float:
            assert genotype not in scores  # each distinct architecture is scored once
            scores[genotype] = 0.9 - 0.1 * len(scores)
            return scores[genotype]

    monkeypatch.setattr("cnas.search._evolution.mutate", spy)
    strategy.engine = FakeEngine()  # type: ignore[assignment]
    strategy.stage = cnas.search.StageContext(0, cnas.Stage(8, 4, 0, 0), space)
    derivation = strategy.derive()
    assert len(derivation.accuracies) == 3 + 6
    first = list(scores)[:3]
    population = list(first)
    for parent, child in zip(parents, children, strict=True):
        assert parent == max(population, key=scores.__getitem__)
        population = [*population[1:], child]  # the oldest leaves
    assert parents[:3] == first  # each first member parents once, then is gone
    assert [c.genotype for c in derivation.ranked()] == first[:2]  # top_k of all seen


# -- a strategy written in user code ---------------------------------------------------------


class Greedy(Strategy):
    """Trains uniform samples; learns, per validation batch, which op does best; derives
    the cell of that op only. A test strategy written as a user would."""

    def __init__(self, *, candidates: int = 2) -> None:
        self.candidates = candidates
        self.wins: dict[str, float] = {}

    def phases(self) -> Sequence[Phase]:
        return (Phase("supernet"), Phase("judge", data="val"))

    def architecture(self, *, warmup: bool = False) -> cnas.Genotype:
        return self.stage.space.sample(generator=self.engine.generator)

    def learn(self, x: torch.Tensor, y: torch.Tensor) -> Mapping[str, float]:
        ops = self.stage.space.ops
        pick = ops[int(torch.randint(0, len(ops), (1,), generator=self.engine.generator))]
        n = self.stage.space.n_nodes
        edges = [(pick, src, dst) for dst in range(2, n + 2) for src in (0, 1)]
        acc = self.engine.accuracy(x, y, cnas.Genotype(edges, None, edges, None))
        self.wins[pick] = self.wins.get(pick, 0.0) + acc
        return {"judged_top1": acc}

    def end_epoch(self) -> Mapping[str, float]:
        return {"ops_judged": float(len(self.wins))}

    def derive(self) -> Derivation:
        found = [self.stage.space.sample(generator=self.engine.generator) for _ in range(2)]
        return Derivation([Candidate(g, self.engine.score(g)) for g in found])

    def state_dict(self) -> dict[str, Any]:
        return {"wins": dict(self.wins)}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.wins = dict(state["wins"])


def test_a_strategy_written_in_user_code_runs_checkpoints_and_resumes(tmp_path: Path) -> None:
    cnas.search.register_strategy("greedy-test")(Greedy)
    try:

        class StopAfter(cnas.Callback):
            def on_epoch_end(self, searcher: Searcher, record: dict[str, Any]) -> None:
                if len(searcher.history) == 5:
                    searcher.request_stop()

        reference, train, val = build(str(tmp_path / "reference"), "greedy-test")
        expected = reference.fit(train, val)
        assert [r["phase"] for r in expected.history[:3]] == ["warmup", "supernet", "judge"]
        judge = expected.history[2]
        assert "judged_top1" in judge and "ops_judged" in judge and judge["images"] > 0
        stopped, train, val = build(str(tmp_path / "run"), "greedy-test", callbacks=[StopAfter()])
        assert stopped.fit(train, val).stopped_early
        saved = torch.load(tmp_path / "run" / "checkpoint.pt", weights_only=True)
        assert saved["strategy"]["name"] == "greedy-test"
        assert saved["strategy"]["state"]["wins"]
        resumed, train, val = build(str(tmp_path / "run"), "greedy-test")
        result = resumed.fit(train, val)
        assert result.genotype == expected.genotype
        assert [s.to_dict() for s in result.stages] == [s.to_dict() for s in expected.stages]
        for key, value in reference.supernet.state_dict().items():
            assert torch.equal(resumed.supernet.state_dict()[key], value), key
        assert resumed.strategy.wins == reference.strategy.wins  # type: ignore[attr-defined]
    finally:
        cnas.search.unregister_strategy("greedy-test")


def test_a_checkpoint_of_another_strategy_is_refused(tmp_path: Path) -> None:
    first, train, val = build(str(tmp_path), "random", callbacks=[])
    first.schedule = cnas.CurriculumSchedule([cnas.Stage(1, 2, 1, 0)], first.schedule.op_order)
    first.fit(train, val)
    second, train, val = build(str(tmp_path), "evolution")
    with pytest.raises(
        cnas.CheckpointError,
        match="is a checkpoint of strategy 'random', and this search runs 'evolution'",
    ):
        second.fit(train, val)


def test_the_running_stage_may_not_be_replaced_when_it_starts(tmp_path: Path) -> None:
    class Replace(cnas.Callback):
        def on_stage_start(self, searcher: Searcher, index: int, stage: cnas.Stage) -> None:
            old = searcher.schedule
            searcher.schedule = cnas.CurriculumSchedule([cnas.Stage(2, 2, 0, 1)], old.op_order)

    searcher, train, val = build(str(tmp_path), "random", callbacks=[Replace()])
    with pytest.raises(ValueError, match="must keep the 1 stage"):
        searcher.fit(train, val)


def test_a_strategy_object_serves_one_searcher_only(tmp_path: Path) -> None:
    searcher, _, _ = build(str(tmp_path))
    with pytest.raises(TypeError, match="already belongs to another Searcher"):
        Searcher(searcher.supernet, searcher.schedule, tmp_path / "b", strategy=searcher.strategy)


# -- stage state and re-deriving -------------------------------------------------------------


@pytest.fixture(scope="module")
def cnas_run(tmp_path_factory: pytest.TempPathFactory) -> Any:
    out = tmp_path_factory.mktemp("cnas") / "run"
    searcher, train, val = build(str(out), "cnas")
    return out, searcher, searcher.fit(train, val), val


def test_each_stage_keeps_its_supernet_and_strategy_state(cnas_run: Any) -> None:
    from safetensors.torch import load_file

    out, searcher, result, _ = cnas_run
    stage = out / "stages" / "stage-3"
    weights = load_file(str(stage / "supernet.safetensors"))
    assert weights.keys() == searcher.supernet.state_dict().keys()
    meta = json.loads((stage / "strategy.json").read_text())
    assert meta["strategy"] == "cnas" and meta["index"] == 2 and meta["n_nodes"] == 2
    assert meta["ops"] == list(result.stages[2].ops)
    saved = json.loads((stage / "result.json").read_text())
    assert saved["strategy"] == "cnas"
    assert len(saved["candidates"]) == 1  # derive_rounds=1: one round's best
    assert set(saved["candidates"][0]["stats"]) >= {"log_prob", "entropy_normal"}
    assert saved["evaluated"] == 3 and saved["accuracy_std"] >= 0


def test_rederiving_a_stage_with_its_own_strategy_gives_its_result(cnas_run: Any) -> None:
    _, searcher, result, _ = cnas_run
    before = {k: v.clone() for k, v in searcher.supernet.state_dict().items()}
    generator = searcher.engine.generator.get_state()
    for index in (0, 2):
        again = searcher.derive(index)
        assert again.genotype == result.stages[index].genotype
        assert again.to_dict() == result.stages[index].to_dict()
    torch_state = torch.get_rng_state()
    assert searcher.derive(-1).genotype == result.genotype
    searcher.derive(0, strategy="random")  # a fresh strategy, set up on the way
    # nothing changed: the supernet holds the last stage's weights, the generators their state
    for key, value in before.items():
        assert torch.equal(searcher.supernet.state_dict()[key], value), key
    assert torch.equal(searcher.engine.generator.get_state(), generator)
    assert torch.equal(torch.get_rng_state(), torch_state)  # data loaders draw from it


def test_a_stage_can_be_derived_by_a_strategy_that_needs_only_the_supernet(
    cnas_run: Any,
) -> None:
    _, searcher, result, val = cnas_run
    evolved = searcher.derive(1, strategy=Evolution(population_size=4, sample_size=2, cycles=4))
    assert evolved.strategy == "evolution" and evolved.evaluated == 8
    assert evolved.genotype in cnas.SearchSpace(result.stages[1].ops, 2)
    sampled = searcher.derive(1, strategy="random", data=val)
    assert sampled.evaluated == 30 and sampled.strategy == "random"


class AliasingSearch(RandomSearch):
    """Keeps the engine's generator and supernet under its own names."""

    def setup(self, engine: cnas.search.Engine) -> None:
        self.rng, self.net = engine.generator, engine.supernet

    def architecture(self, *, warmup: bool = False) -> cnas.Genotype:
        return self.stage.space.sample(generator=self.rng)

    def derive(self) -> Derivation:
        found = [self.stage.space.sample(generator=self.rng) for _ in range(3)]
        assert self.net is self.engine.supernet
        return Derivation([Candidate(g, self.engine.score(g)) for g in found])


def test_rederiving_with_a_strategy_that_keeps_engine_objects(tmp_path: Path) -> None:
    cnas.search.register_strategy("aliasing-test")(AliasingSearch)
    try:
        searcher, train, val = build(str(tmp_path), "aliasing-test")
        result = searcher.fit(train, val)
        for index, stage in enumerate(result.stages):
            assert searcher.derive(index).to_dict() == stage.to_dict()
    finally:
        cnas.search.unregister_strategy("aliasing-test")


def test_rederiving_refuses_what_cannot_work(cnas_run: Any, tmp_path: Path) -> None:
    _, searcher, _, _ = cnas_run
    with pytest.raises(ValueError, match="'darts' derives from its own trained state"):
        searcher.derive(0, strategy="darts")
    with pytest.raises(ValueError, match=r"stage index 7 is not a finished stage.*\[0, 1, 2, 3\]"):
        searcher.derive(7)
    empty, _, _ = build(str(tmp_path / "empty"))
    with pytest.raises(ValueError, match="holds no finished stage"):
        empty.derive()
    other = Reinforce(cnas.Controller(cnas.SearchSpace()))  # a strategy's own error, as it is
    with pytest.raises(ValueError, match="differs from the controller's"):
        searcher.derive(0, strategy=other)


def test_a_corrupt_stage_state_is_a_checkpoint_error(cnas_run: Any, tmp_path: Path) -> None:
    import shutil

    out, _, _, val = cnas_run
    copy = tmp_path / "run"
    shutil.copytree(out, copy)
    (copy / "stages" / "stage-1" / "supernet.safetensors").write_bytes(b"garbage")
    searcher, _, _ = build(str(copy))
    with pytest.raises(cnas.CheckpointError, match="not a readable safetensors file"):
        searcher.derive(0, data=val)


# -- the names removed before 0.1.0 was released --------------------------------------------------


def test_the_never_released_spellings_are_gone(tmp_path: Path) -> None:
    space = cnas.SearchSpace(["sep_conv_3x3", "skip_connect"], 2)
    schedule = cnas.CurriculumSchedule.fixed(space, 1, 1)
    controller = cnas.Controller(space, hidden_size=16)
    with pytest.raises(TypeError):  # the development call: the controller second
        Searcher(cnas.SuperNet(space, C=4, layers=3), controller, schedule, tmp_path / "a")  # type: ignore[arg-type, misc]
    with pytest.raises(TypeError, match="unexpected keyword argument 'entropy_coeff'"):
        Searcher(cnas.SuperNet(space, C=4, layers=3), schedule, tmp_path, entropy_coeff=0.1)  # type: ignore[call-arg]
    searcher = Searcher(
        cnas.SuperNet(space, C=4, layers=3),
        schedule,
        tmp_path / "b",
        strategy=Reinforce(controller),
    )
    assert not hasattr(searcher, "controller") and not hasattr(searcher, "alphas")
    assert searcher.strategy.controller is controller  # type: ignore[attr-defined]
    with pytest.raises(AttributeError):
        cnas.search.STRATEGIES  # type: ignore[attr-defined]  # noqa: B018
    with pytest.raises(ModuleNotFoundError):
        __import__("cnas.controller")
    with pytest.raises(AttributeError):
        cnas.training.Cutout  # type: ignore[attr-defined]  # noqa: B018
    assert cnas.search.Controller is cnas.Controller
    assert cnas.search.ArchParameters is cnas.ArchParameters


# -- plugins ------------------------------------------------------------------------------------


def test_a_plugin_strategy_is_found_listed_and_searched_with(tmp_path: Path) -> None:
    install_dummy_distribution(
        tmp_path,
        """
        import cnas

        class Sampler(cnas.search.RandomSearch):
            \"\"\"Random search, from a plugin.

            Args:
                budget: Candidates per stage.
            \"\"\"

            def __init__(self, *, budget: int = 5) -> None:
                super().__init__(num_candidates=budget)
                self.budget = budget
        """,
        "[cnas.strategies]\nplugin-sampler = cnas_dummy_search:Sampler\n",
        package="cnas_dummy_search",
    )
    listed = run_python("import cnas; print(cnas.search.list_strategies())", tmp_path)
    assert listed.returncode == 0, listed.stderr
    assert "plugin-sampler" in listed.stdout
    help_text = run_python("", tmp_path, "-m", "cnas", "search", "--list-strategies")
    assert "plugin-sampler: cnas_dummy_search.Sampler" in help_text.stdout
    assert "--budget (default: 5): Candidates per stage" in help_text.stdout
    out = tmp_path / "run"
    args = ["-m", "cnas", "search", "--strategy", "plugin-sampler", "--budget", "2"]
    args += ["--dataset", "digits", "--init-channels", "4", "--layers", "3", "--nodes", "2"]
    args += ["--steps-per-epoch", "1", "--warmup-epochs", "0", "--epochs-per-stage", "1"]
    args += ["--stages", "1", "--derive-batches", "1", "--no-progress", "-o", str(out)]
    searched = run_python("", tmp_path, *args, timeout=300)
    assert searched.returncode == 0, searched.stderr
    result = json.loads((out / "stages" / "stage-1" / "result.json").read_text())
    assert result["strategy"] == "plugin-sampler" and result["evaluated"] == 2


def test_a_broken_plugin_strategy_is_reported_when_asked_for(tmp_path: Path) -> None:
    install_dummy_distribution(
        tmp_path,
        "raise ImportError('missing dependency bar')\n",
        "[cnas.strategies]\nbroken = cnas_dummy_search:Nope\n",
        package="cnas_dummy_search",
    )
    result = run_python(
        """
        import cnas
        assert "random" in cnas.search.list_strategies()
        try:
            cnas.search.get_strategy("broken")
        except KeyError as exc:
            print(exc)
        """,
        tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert "strategy 'broken' failed to load from its plugin: cnas-dummy-search" in result.stdout
    assert "missing dependency bar" in result.stdout


def test_strategy_settings_never_take_the_commands_flags(
    caplog: pytest.LogCaptureFixture,
) -> None:
    from cnas.cli import build_parser

    class Clashing(RandomSearch):
        """Settings named like the search's own flags, and one typed unlike evolution's.

        Args:
            seed: A seed.
            progress: A switch.
            cycles: Not evolution's int.
        """

        def __init__(self, *, seed: int = 1, progress: bool = False, cycles: str = "many") -> None:
            super().__init__()
            self.seed, self.progress, self.cycles = seed, progress, cycles

    cnas.search.register_strategy("clashing-test")(Clashing)
    try:
        parser = build_parser()
        args = parser.parse_args(["search", "--seed", "5", "--no-progress"])
        given = vars(args)
        assert given["cfg:seed"] == 5 and given["cfg:runtime.progress"] is False  # the search's
        assert "cycles" not in args._strategy_flags  # int for one, str for the other
        assert parser.parse_args(["draw", "CNAS"]).arch == "CNAS"  # other commands unharmed
    finally:
        cnas.search.unregister_strategy("clashing-test")
    messages = caplog.text
    assert "no flag for strategy setting 'seed'" in messages
    assert "give the setting 'cycles' different types" in messages
