"""--int8-weights: on DSP cores int8 layers keep their weights int8 (compact) or as int16
copies (expanded, faster, twice the flash); auto expands the layers with the most MACs per
weight while the copies fit the spare flash. Bit-exactness of both layouts is in
test_tflite_ops / test_tflite; this is the choice itself."""
from pathlib import Path

import pytest

from edgeopt.errors import EdgeoptError
from edgeopt.frontends import load_model
from edgeopt.ops import default_registry
from edgeopt.ops.registry import OpContext
from edgeopt.passes import optimize
from edgeopt.passes.int8_weights import choose_int8_weights
from edgeopt.pipeline import compile_model

PERSON_DETECT = Path(__file__).resolve().parent / "data" / "models" / "tflm" / "person_detect.tflite"


def _layers(mode, spare):
    """The layout, extra bytes and MACs of each layer that can expand its weights (planar
    depthwise layers cannot: they read each weight once a channel, and stay compact)."""
    registry = default_registry()
    graph = optimize(load_model(PERSON_DETECT, {}), registry)
    added = choose_int8_weights(graph, registry, mode, spare)
    layers = []
    for node in graph.nodes:
        if "int8_weights" in node.attrs:
            cost = registry[node.op_type].weight_expansion(OpContext(node, graph))
            assert cost is not None or node.attrs["int8_weights"] == "compact"
            if cost is not None:
                layers.append((node.attrs["int8_weights"], *cost[:2]))
    return added, layers


@pytest.mark.parametrize("spare", [0, 5_000, 40_000])
def test_auto_expands_the_most_reused_weights_that_fit(spare):
    added, layers = _layers("auto", spare)
    expanded = [(extra, macs) for layout, extra, macs in layers if layout == "expanded"]
    assert added == sum(extra for extra, _ in expanded) <= spare
    assert bool(expanded) == (spare > 0)
    least_reuse = min((macs / extra for extra, macs in expanded), default=float("inf"))
    for layout, extra, macs in layers:  # a compact layer either did not fit or gains less
        if layout == "compact":
            assert extra > spare - added or macs / extra <= least_reuse


def test_compact_and_expanded_take_every_layer():
    assert {layout for layout, *_ in _layers("compact", 10 ** 9)[1]} == {"compact"}
    assert {layout for layout, *_ in _layers("expanded", 0)[1]} == {"expanded"}


def test_the_layouts_trade_flash_for_speed():
    flash = {mode: compile_model(PERSON_DETECT, int8_weights=mode).memory.weights_on(True)
             for mode in ("compact", "auto", "expanded")}
    portable = compile_model(PERSON_DETECT).memory.weights_on(False)
    assert flash["compact"] < flash["auto"] <= flash["compact"] + 16 * 1024 < flash["expanded"]
    assert flash["expanded"] > 1.8 * portable and flash["compact"] < 1.2 * portable


def test_cli_option_reaches_the_generated_code_and_bad_values_are_refused(run_cli, tmp_path):
    code, _, _ = run_cli("compile", PERSON_DETECT, "--int8-weights", "compact", "-o", tmp_path / "c")
    source = (tmp_path / "c" / "person_detect.c").read_text()
    assert code == 0 and "int8-weights=compact" in source
    assert "_dsp_compact(" in source and "eo_conv2d_s8_dsp(" not in source
    with pytest.raises(SystemExit) as exc:
        run_cli("compile", PERSON_DETECT, "--int8-weights", "int4")
    assert exc.value.code == 2
    with pytest.raises(EdgeoptError, match="choose one of auto, compact, expanded"):
        compile_model(PERSON_DETECT, int8_weights="int4")


def test_auto_keeps_within_a_boards_free_flash():
    """With a board, auto spends the usual 16 KiB (the artifact `hil run` rebuilds), or less
    where the board has less left after a compact build and an eighth kept free."""
    import dataclasses
    from argparse import Namespace

    from edgeopt.budget import estimate
    from edgeopt.cli import _compile_model_args
    from edgeopt.targets import get_target

    args = Namespace(model=PERSON_DETECT, name=None, input_shape=[], stream=False, int8_weights="auto")
    nucleo = get_target("nucleo_f446re")
    assert _compile_model_args(args, nucleo).digest == compile_model(PERSON_DETECT).digest
    compact = estimate(compile_model(PERSON_DETECT, int8_weights="compact"), nucleo)["flash_bytes"]
    small = dataclasses.replace(nucleo, flash=(compact + 6_000) * 8 // 7)  # ~6 KB left
    tight = _compile_model_args(args, small)
    added = tight.memory.weights_on(True) - compile_model(PERSON_DETECT, int8_weights="compact").memory.weights_on(True)
    assert 0 < added <= 6_000
