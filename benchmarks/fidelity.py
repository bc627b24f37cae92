"""cnas's search loop and the original CNAS code's, side by side, in float64.

Both run the same search on the same tiny synthetic data, from the same initial weights
(cnas's, copied into the original's modules) and through the same architectures (the
ones cnas's controller samples are forced on the original's: its ``ArchMaster`` then
computes the log-probabilities and entropies of those decisions with its own weights).
The original runs its own ``conduct_pipeline`` (``cnas/search/entry.py``) and its
``update_w``, ``update_theta`` and ``derive_test``, in a child process (both packages
are called ``cnas``). The script then prints the largest difference of every supernet
loss, reward, policy loss and derive score, of the final supernet and controller
weights, and which candidates each side kept at the end of each stage.

    python benchmarks/fidelity.py --original PATH     # PATH: a checkout of guoyongcs/CNAS
    python benchmarks/fidelity.py --dry-run           # cnas's side and the plumbing only

What is set up rather than taken from the original's entry point, and why:

- the op order is cnas's curriculum order, handed to the original's supernet as its
  ``op_type`` (the original shuffles its primitives with its own seed);
- the space has as many ops as nodes (4 and 4): the original's op head (``w_soft``) has
  ``n_nodes`` outputs, so with more ops it could not sample the later ones;
- its data loaders are replaced by fixed ones (no shuffling, no augmentation), the same
  for both sides; its validation loader also scores the candidates (the original
  derives on the CIFAR-10 test set);
- its optimizers zero gradients in ``zero_grad()``, as the torch it pins (1.5.0) did;
  torch 2 removes them instead by default;
- its TensorBoard writer, its logging module, and the drawing of derived cells are
  replaced by stand-ins that only log (they do not touch the numbers).

Nothing of the original's code is copied here: its modules are imported from ``PATH``.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import math
import subprocess
import sys
import tempfile
import types
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

OPS = ("sep_conv_3x3", "max_pool_3x3", "none", "skip_connect")
N_NODES = 4
C, LAYERS, CLASSES, SIZE = 4, 5, 5, 16
BATCH, TRAIN_BATCHES, VAL_BATCHES = 8, 4, 4
WARMUP, EPOCHS = 1, 2
SEED = 2020
MODES = {"ops": "CNAS_OP", "nodes": "CNAS_NODE"}


# -- shared: data and the canonical order of parameters -------------------------------------


def make_data(seed: int) -> dict[str, torch.Tensor]:
    """Learnable synthetic images: a class-dependent pattern plus noise (float64)."""
    g = torch.Generator().manual_seed(seed)
    patterns = torch.randn(CLASSES, 3, SIZE, SIZE, generator=g, dtype=torch.float64)

    def split(batches: int) -> tuple[torch.Tensor, torch.Tensor]:
        y = torch.randint(0, CLASSES, (batches * BATCH,), generator=g)
        noise = torch.randn(batches * BATCH, 3, SIZE, SIZE, generator=g, dtype=torch.float64)
        return patterns[y] + 1.5 * noise, y

    x_train, y_train = split(TRAIN_BATCHES)
    x_val, y_val = split(VAL_BATCHES)
    return {"x_train": x_train, "y_train": y_train, "x_val": x_val, "y_val": y_val}


def loader(x: torch.Tensor, y: torch.Tensor) -> DataLoader[Any]:
    """A fixed order of batches, the same on both sides."""
    return DataLoader(TensorDataset(x, y), batch_size=BATCH, shuffle=False)


def canonical_modules(
    stem: nn.Module,
    cells: Sequence[Any],
    classifier: nn.Module,
    edge_op: Callable[[Any, int, int], nn.Module],
    n_edges: int,
    n_ops: int,
) -> list[nn.Module]:
    """The supernet's modules in an order both implementations can list: the stem, then
    per cell its two preprocessing layers and every op of every edge (in the op order),
    then the classifier."""
    modules = [stem]
    for cell in cells:
        modules += [cell.preprocess0, cell.preprocess1]
        modules += [edge_op(cell, e, j) for e in range(n_edges) for j in range(n_ops)]
    modules.append(classifier)
    return modules


def parameters_of(modules: Sequence[nn.Module]) -> list[nn.Parameter]:
    return [p for m in modules for p in m.parameters()]


CONTROLLER_KEYS = (
    ("embedding", "node_op_embedding.weight"),
    ("weight_ih", "lstm.weight_ih"),
    ("weight_hh", "lstm.weight_hh"),
    ("bias_ih", "lstm.bias_ih"),
    ("bias_hh", "lstm.bias_hh"),
    ("emb_attn", "emb_attn.weight"),
    ("hid_attn", "hid_attn.weight"),
    ("v_attn", "v_attn.weight"),
    ("op_weight", "w_soft.weight"),
    ("op_bias", "w_soft.bias"),
)
"""cnas's ``Controller`` parameter (one slice per cell: 0 normal, 1 reduce) and the
original's ``ArchMaster`` parameter it is (``v_attn`` is a row there)."""


# -- cnas's side -------------------------------------------------------------------------


def run_cnas(curriculum: str, stages: int, idle_weights: str, work: Path) -> dict[str, Any]:
    """Run cnas's ``Searcher`` and record what it did, step by step."""
    import cnas
    from cnas.search import OptimizerConfig, Reinforce, SearchRuntime

    torch.manual_seed(SEED)
    space = cnas.SearchSpace(OPS, n_nodes=N_NODES)
    if curriculum == "ops":
        full = cnas.CurriculumSchedule.grow_ops(space, WARMUP, EPOCHS, seed=SEED)
    else:
        full = cnas.CurriculumSchedule.grow_nodes(space, WARMUP, EPOCHS)
    schedule = cnas.CurriculumSchedule(full.stages[:stages], full.op_order)
    order = list(schedule.op_order or space.ops)
    net = cnas.SuperNet(space, C=C, num_classes=CLASSES, layers=LAYERS)
    strategy = Reinforce()
    searcher = cnas.Searcher(
        net,
        schedule,
        work / f"cnas-{curriculum}",
        strategy=strategy,
        optimizer=OptimizerConfig(batch_size=BATCH, idle_weights=idle_weights),
        seed=SEED,
        runtime=SearchRuntime(
            device="cpu", progress=False, draw=False, tensorboard=False, channels_last=False
        ),  # float64 convolutions in channels-last run a slow path on CPUs
        resume=False,
    )
    engine = searcher.engine

    def edge_op(cell: Any, e: int, j: int) -> nn.Module:
        return cell.edges[e].ops[order[j]]  # type: ignore[no-any-return]

    n_edges = len(net.cells[0].edges)
    supernet_params = parameters_of(
        canonical_modules(net.stem, list(net.cells), net.classifier, edge_op, n_edges, len(order))
    )
    if len(supernet_params) != len(list(net.parameters())):
        raise RuntimeError("the canonical order misses some of cnas's supernet parameters")
    controller = strategy.policy

    def controller_state() -> dict[str, list[torch.Tensor]]:
        return {
            ours: [getattr(controller, ours)[c].detach().clone() for c in range(2)]
            for ours, _ in CONTROLLER_KEYS
        }

    start = {
        "supernet": [p.detach().clone() for p in supernet_params],
        "controller": controller_state(),
    }
    trace: dict[str, list[Any]] = {"losses": [], "rewards": [], "policy_losses": []}
    trace.update({"derive_scores": [], "genotypes": []})
    weight_step, accuracy, score = engine.weight_step, engine.accuracy, engine.score
    learn = strategy.learn

    def recorded_weight_step(x: torch.Tensor, y: torch.Tensor, arch: Any) -> Any:
        trace["genotypes"].append(arch)
        loss, logits = weight_step(x, y, arch)
        trace["losses"].append(float(loss))
        return loss, logits

    def recorded_accuracy(x: torch.Tensor, y: torch.Tensor, arch: Any) -> float:
        trace["genotypes"].append(arch)
        return accuracy(x, y, arch)

    def recorded_score(genotype: Any) -> float:
        trace["genotypes"].append(genotype)
        value = score(genotype)
        trace["derive_scores"].append(value)
        return value

    def recorded_learn(x: torch.Tensor, y: torch.Tensor) -> Any:
        stats = learn(x, y)
        trace["rewards"].append(stats["reward"])
        trace["policy_losses"].append(stats["policy_loss"])
        return stats

    engine.weight_step = recorded_weight_step  # type: ignore[method-assign]
    engine.accuracy = recorded_accuracy  # type: ignore[method-assign]
    engine.score = recorded_score  # type: ignore[method-assign]
    strategy.learn = recorded_learn  # type: ignore[method-assign]
    data = make_data(SEED)
    result = searcher.fit(
        loader(data["x_train"], data["y_train"]), loader(data["x_val"], data["y_val"])
    )
    kept = [
        [
            {
                "normal": [tuple(e) for e in cand.genotype.normal],
                "reduce": [tuple(e) for e in cand.genotype.reduce],
                "log_prob_normal": cand.stats["log_prob_normal"],
                "log_prob_reduce": cand.stats["log_prob_reduce"],
            }
            # in the order of their rounds, as the original writes them (cnas: best first)
            for cand in sorted(stage.candidates, key=lambda c: c.stats["round"])
        ]
        for stage in result.stages
    ]
    return {
        "order": order,
        "start": start,
        "trace": trace,
        "kept": kept,
        "final": {
            "supernet": [p.detach().clone() for p in supernet_params],
            "controller": controller_state(),
        },
        "data": data,
    }


def forced_actions(genotypes: Sequence[Any], order: Sequence[str]) -> dict[str, list[int]]:
    """The decisions of every architecture, in the order the original's controller makes
    them: per node its two inputs, then its two ops (ops by their index in ``order``)."""
    actions: dict[str, list[int]] = {"normal": [], "reduce": []}
    for genotype in genotypes:
        for kind in ("normal", "reduce"):
            edges = list(getattr(genotype, kind))
            for i in range(0, len(edges), 2):
                first, second = edges[i], edges[i + 1]
                actions[kind] += [first.src, second.src]
                actions[kind] += [order.index(first.op), order.index(second.op)]
    return actions


def genotype_of_actions(actions: Sequence[int], n_nodes: int, order: Sequence[str]) -> list[Any]:
    """The edges ``(op, src, dst)`` of one cell's decisions (the inverse of the above)."""
    edges = []
    for node in range(n_nodes):
        a, b, op_a, op_b = actions[4 * node : 4 * node + 4]
        edges += [(order[op_a], a, node + 2), (order[op_b], b, node + 2)]
    return edges


# -- the original's side (a child process) ------------------------------------------------


def _stub_modules(work: Path) -> None:
    """Stand-ins for what the original imports besides its numbers: TensorBoard, its
    logging package (which makes output folders when imported), and git lookups."""
    import logging

    logger = logging.getLogger("original")

    class Writer:
        def add_scalar(self, *args: Any, **kwargs: Any) -> None:
            pass

    tensorboard = types.ModuleType("torch.utils.tensorboard")
    tensorboard.SummaryWriter = Writer  # type: ignore[attr-defined]
    sys.modules.setdefault("torch.utils.tensorboard", tensorboard)
    utils = types.ModuleType("cnas.torchutils")
    utils.logger = logger  # type: ignore[attr-defined]
    utils.output_directory = str(work)  # type: ignore[attr-defined]
    utils.summary_writer = Writer()  # type: ignore[attr-defined]
    utils.__path__ = []  # type: ignore[attr-defined]
    common = types.ModuleType("cnas.torchutils.common")
    for name in ("get_last_commit_id", "set_reproducible", "generate_random_seed"):
        setattr(common, name, lambda *a, **k: None)
    sys.modules["cnas.torchutils"] = utils
    sys.modules["cnas.torchutils.common"] = common


def run_original(original: Path, work: Path) -> None:
    """Run the original's ``conduct_pipeline`` on what ``inputs.pt`` in ``work`` holds,
    with cnas's architectures forced; write what it did to ``outputs.pt``."""
    torch.set_default_dtype(torch.float64)
    inputs = torch.load(work / "inputs.pt", weights_only=False)
    sys.argv = [sys.argv[0]]  # its config module parses the command line when imported
    sys.path.insert(0, str(original))
    _stub_modules(work)
    import cnas  # the original's package

    if not Path(cnas.__path__[0]).resolve().is_relative_to(original.resolve()):
        raise RuntimeError(f"imported {cnas.__path__[0]}, not the original's package")
    import cnas.search.core.engine as engine
    import cnas.search.entry as entry
    from cnas.model.master import ArchMaster, MasterPairs
    from cnas.model.search import NASNetwork
    from cnas.search.core.metric import AverageMetric, MovingAverageMetric, Statistics

    order, n_ops = inputs["order"], len(inputs["order"])
    recorded: dict[str, list[float]] = {
        "losses": [],
        "rewards": [],
        "policy_losses": [],
        "derive_scores": [],
    }
    call: dict[str, Any] = {"phase": "", "metrics": 0, "statistics": 0}

    class FirstAverage(AverageMetric):  # type: ignore[misc,valid-type]
        """Records the first metric of update_theta: its policy loss."""

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.first = call["metrics"] == 0 and call["phase"] == "theta"
            call["metrics"] += 1

        def update(self, value: Any) -> None:
            if self.first:
                recorded["policy_losses"].append(value.item())
            super().update(value)

    class FirstStatistics(Statistics):  # type: ignore[misc,valid-type]
        """Records the first statistics of derive_test: its candidates' accuracies."""

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.first = call["statistics"] == 0
            call["statistics"] += 1

        def update(self, value: Any) -> None:
            if self.first:
                recorded["derive_scores"].append(float(value))
            super().update(value)

    class Baseline(MovingAverageMetric):  # type: ignore[misc,valid-type]
        def update(self, value: Any) -> None:
            super().update(value)
            recorded["rewards"].append(self.last - self.value)

    def phase(name: str, function: Callable[..., Any]) -> Callable[..., Any]:
        def run(*args: Any, **kwargs: Any) -> Any:
            call.update(phase=name, metrics=0, statistics=0)
            return function(*args, **kwargs)

        return run

    engine.AverageMetric = FirstAverage
    engine.Statistics = FirstStatistics
    engine.draw_genotype = lambda *args, **kwargs: None  # pictures only
    entry.update_w = phase("w", engine.update_w)
    entry.update_theta = phase("theta", engine.update_theta)
    entry.derive_test = phase("derive", engine.derive_test)
    forced = {k: deque(v) for k, v in inputs["actions"].items()}

    def impl(self: Any, probs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        m = torch.distributions.Categorical(probs=probs)
        action = torch.tensor([self.forced.popleft()])
        return action, m.log_prob(action), m.entropy()

    ArchMaster._impl = impl
    mode = inputs["mode"]
    network = NASNetwork(
        C=C, num_classes=CLASSES, layers=LAYERS, n_nodes=N_NODES, multiplier=N_NODES,
        stem_multiplier=3, loose_end=False, op_type=list(order),
    )  # fmt: skip
    n_edges = len(network.cells[0]._ops)
    params = parameters_of(
        canonical_modules(
            network.stem,
            list(network.cells),
            network.classifier,
            lambda cell, e, j: cell._ops[e]._ops[j],
            n_edges,
            n_ops,
        )
    )
    if len(params) != len(list(network.parameters())):
        raise RuntimeError("the canonical order misses some of the original's parameters")
    with torch.no_grad():
        for p, value in zip(params, inputs["start"]["supernet"], strict=True):
            if p.shape != value.shape:
                shapes = f"{tuple(p.shape)} and {tuple(value.shape)}"
                raise RuntimeError(f"parameter shapes differ: {shapes}")
            p.copy_(value)

    def master(cell: int) -> Any:
        m = ArchMaster(
            n_nodes=N_NODES, cur_nodes=1 if mode == "CNAS_NODE" else N_NODES, n_ops=n_ops,
            cur_ops=1 if mode == "CNAS_OP" else n_ops, device="cpu", hidden_size=128,
            temperature=None, tanh_constant=None, op_tanh_reduce=None,
        )  # fmt: skip
        state = dict(m.named_parameters())
        with torch.no_grad():
            for ours, theirs in CONTROLLER_KEYS:
                value = inputs["start"]["controller"][ours][cell]
                state[theirs].copy_(value.reshape(state[theirs].shape))
        m.forced = forced["normal" if cell == 0 else "reduce"]
        return m

    masters = MasterPairs(normal_arch_master=master(0), reduce_arch_master=master(1))
    arch_optimizer = torch.optim.SGD(
        network.parameters(), lr=0.01, momentum=0.9, weight_decay=3e-4, nesterov=True
    )
    master_optimizer = torch.optim.Adam(masters.parameters(), lr=3e-4, weight_decay=5e-4)
    for optimizer in (arch_optimizer, master_optimizer):
        # the torch the original pins (1.5.0) zeroes gradients in zero_grad(); torch 2
        # removes them by default, which would leave the weights a step did not use alone
        optimizer.zero_grad = functools.partial(optimizer.zero_grad, set_to_none=False)  # type: ignore[method-assign]
    criterion = nn.CrossEntropyLoss()

    def recording_criterion(outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        loss = criterion(outputs, targets)
        recorded["losses"].append(loss.item())
        return loss

    data = inputs["data"]
    train = loader(data["x_train"], data["y_train"])
    val = loader(data["x_val"], data["y_val"])
    entry.conduct_pipeline(
        mode, inputs["stages"], WARMUP, EPOCHS, 0, "cpu", train, val, val, list(order),
        masters, network, recording_criterion, arch_optimizer, master_optimizer, False,
        Baseline(gamma=0.99), 0.005, 5, sys.modules["cnas.torchutils"].summary_writer, 10**9,
    )  # fmt: skip
    left = {k: len(v) for k, v in forced.items() if v}
    if left:
        raise RuntimeError(f"forced decisions left over: {left}")
    kept = []
    for stage in range(1, inputs["stages"] + 1):
        files = sorted((work / "derive" / f"stage-{stage}").glob("epoch-*/arch-*.json"))
        candidates = []
        for f in files:
            sample = json.loads(f.read_text())
            arch = json.loads(sample["arch"])
            candidates.append(
                {
                    "normal": [tuple(e) for e in arch["named_normal_arch"]],
                    "reduce": [tuple(e) for e in arch["named_reduced_arch"]],
                    "log_prob_normal": sample["normal_logp"],
                    "log_prob_reduce": sample["reduced_logp"],
                }
            )
        kept.append(candidates)
    final_controller: dict[str, list[torch.Tensor]] = {ours: [] for ours, _ in CONTROLLER_KEYS}
    for m in (masters.normal_arch_master, masters.reduce_arch_master):
        state = dict(m.named_parameters())
        for ours, theirs in CONTROLLER_KEYS:
            final_controller[ours].append(state[theirs].detach().clone())
    torch.save(
        {
            "trace": recorded,
            "kept": kept,
            "final": {
                "supernet": [p.detach().clone() for p in params],
                "controller": final_controller,
            },
        },
        work / "outputs.pt",
    )


# -- comparison ---------------------------------------------------------------------------


TOLERANCE = 1e-10
"""Differences above this count as a departure (``first over``)."""


def largest(a: Sequence[float], b: Sequence[float]) -> float:
    if len(a) != len(b):
        return math.inf
    return max((abs(x - y) for x, y in zip(a, b, strict=True)), default=0.0)


def first_over(a: Sequence[float], b: Sequence[float]) -> int | None:
    """The index of the first pair further apart than ``TOLERANCE`` (None: none)."""
    pairs = enumerate(zip(a, b, strict=False))
    return next((i for i, (x, y) in pairs if abs(x - y) > TOLERANCE), None)


def largest_tensor(a: Sequence[torch.Tensor], b: Sequence[torch.Tensor]) -> float:
    if len(a) != len(b):
        return math.inf
    return max(
        (float((x.reshape(y.shape) - y).abs().max()) for x, y in zip(a, b, strict=True)),
        default=0.0,
    )


Row = tuple[str, int, float, int | None]
"""What was compared, how many (-1: the counts differ), the largest difference, and the
first one (from 1) over ``TOLERANCE``."""


def compare(ours: dict[str, Any], theirs: dict[str, Any]) -> list[Row]:
    """One row per quantity."""
    rows: list[Row] = []

    def row(name: str, a: Sequence[float], b: Sequence[float]) -> None:
        first = first_over(a, b)
        count = len(a) if len(a) == len(b) else -1
        rows.append((name, count, largest(a, b), None if first is None else first + 1))

    for key, name in (
        ("losses", "supernet loss"),
        ("rewards", "reward"),
        ("policy_losses", "policy loss"),
        ("derive_scores", "derive score"),
    ):
        row(name, ours["trace"][key], theirs["trace"][key])
    keys = ("log_prob_normal", "log_prob_reduce")
    row(
        "kept candidates' log-prob",
        [c[k] for s in ours["kept"] for c in s for k in keys],
        [c[k] for s in theirs["kept"] for c in s for k in keys],
    )
    sa, sb = ours["final"]["supernet"], theirs["final"]["supernet"]
    rows.append(("final supernet weights", len(sa), largest_tensor(sa, sb), None))
    ca = [t for key, _ in CONTROLLER_KEYS for t in ours["final"]["controller"][key]]
    cb = [t for key, _ in CONTROLLER_KEYS for t in theirs["final"]["controller"][key]]
    rows.append(("final controller weights", len(ca), largest_tensor(ca, cb), None))
    return rows


def same_candidates(ours: dict[str, Any], theirs: dict[str, Any]) -> list[bool]:
    """Per stage: whether both kept the same candidates, in the same order."""

    def cells(stage: list[dict[str, Any]]) -> list[tuple[Any, Any]]:
        return [([tuple(e) for e in c["normal"]], [tuple(e) for e in c["reduce"]]) for c in stage]

    return [cells(a) == cells(b) for a, b in zip(ours["kept"], theirs["kept"], strict=False)] + [
        False
    ] * abs(len(ours["kept"]) - len(theirs["kept"]))


# -- the command ----------------------------------------------------------------------------


def compare_one(
    curriculum: str, stages: int, idle_weights: str, original: Path | None, work: Path
) -> tuple[list[Row], list[bool]] | None:
    """Run one curriculum; ``None`` in a dry run (no original)."""
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        ours = run_cnas(curriculum, stages, idle_weights, work)
    finally:
        torch.set_default_dtype(previous)
    order = ours["order"]
    genotypes = ours["trace"]["genotypes"]
    actions = forced_actions(genotypes, order)
    for genotype in genotypes[:50]:  # the decisions give back the architecture
        one = forced_actions([genotype], order)
        n = len(one["normal"]) // 4
        assert genotype_of_actions(one["normal"], n, order) == [tuple(e) for e in genotype.normal]
    if original is None:
        print(
            f"dry run, {curriculum} curriculum: cnas ran {len(ours['trace']['losses'])} weight "
            f"steps, {len(ours['trace']['rewards'])} controller steps and "
            f"{len(ours['trace']['derive_scores'])} derive scores over {stages} stages; "
            f"{len(actions['normal'])} forced decisions per cell type would go to the original"
        )
        return None
    side = work / f"original-{curriculum}"
    side.mkdir()
    torch.save(
        {
            "order": order,
            "mode": MODES[curriculum],
            "stages": stages,
            "start": ours["start"],
            "actions": actions,
            "data": ours["data"],
        },
        side / "inputs.pt",
    )
    child = subprocess.run(
        [sys.executable, __file__, "--original", str(original), "--original-side", str(side)],
        capture_output=True,
        text=True,
        check=False,
    )
    if child.returncode != 0:
        raise SystemExit(f"the original's side failed:\n{child.stderr[-4000:]}")
    theirs = torch.load(side / "outputs.pt", weights_only=False)
    return compare(ours, theirs), same_candidates(ours, theirs)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the comparison (or, with ``--dry-run``, cnas's side only) and print it."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--original", type=Path, help="a checkout of guoyongcs/CNAS")
    parser.add_argument("--dry-run", action="store_true", help="run cnas's side only")
    parser.add_argument("--curriculum", choices=("ops", "nodes", "both"), default="both")
    parser.add_argument("--stages", type=int, default=N_NODES, help="stages of each run (1-4)")
    parser.add_argument(
        "--idle-weights", choices=("step", "hold"), default="step",
        help="cnas's OptimizerConfig.idle_weights (step: the original's semantics)",
    )  # fmt: skip
    parser.add_argument("--original-side", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.original_side is not None:
        run_original(args.original, args.original_side)
        return 0
    if not 1 <= args.stages <= N_NODES:
        parser.error(f"--stages must be in 1..{N_NODES}")
    if args.original is None and not args.dry_run:
        parser.error("give --original PATH (a checkout of guoyongcs/CNAS), or --dry-run")
    entry = Path("cnas", "search", "entry.py")
    if args.original is not None and not (args.original / entry).is_file():
        parser.error(f"{args.original} is not a checkout of guoyongcs/CNAS (no {entry})")
    original = None if args.dry_run else args.original
    curricula = ("ops", "nodes") if args.curriculum == "both" else (args.curriculum,)
    worst = 0.0
    with tempfile.TemporaryDirectory() as tmp, _quiet():
        for curriculum in curricula:
            out = compare_one(curriculum, args.stages, args.idle_weights, original, Path(tmp))
            if out is None:
                continue
            rows, kept = out
            print(
                f"\n{curriculum} curriculum, {args.stages} stages, float64, "
                f"idle_weights={args.idle_weights}\n"
            )
            print(f"| what | compared | largest difference | first over {TOLERANCE:g} |")
            print("|---|---|---|---|")
            for name, count, diff, first in rows:
                shown = count if count >= 0 else "counts differ"
                where = "-" if first is None else f"#{first}"
                print(f"| {name} | {shown} | {diff:.3g} | {where} |")
                worst = max(worst, diff) if name == "supernet loss" else worst
            print(
                "\nsame kept candidates per stage: "
                + ", ".join(f"stage {i + 1}: {'yes' if k else 'NO'}" for i, k in enumerate(kept))
            )
    if original is not None:
        print(f"\nlargest supernet loss difference: {worst:.3g}")
    return 0


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    import logging

    logger = logging.getLogger("cnas")
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        logger.setLevel(level)


if __name__ == "__main__":
    raise SystemExit(main())
