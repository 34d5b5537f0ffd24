import pytest

from ecalib.params import as_list, check_choice, check_int, check_models, check_parameters


def test_lists_from_papermill_strings():
    assert as_list("['eca_resnet50', 'resnet50']") == ["eca_resnet50", "resnet50"]
    assert as_list("eca_resnet50, resnet50") == ["eca_resnet50", "resnet50"]
    assert as_list(["a"]) == ["a"]


def test_check_models():
    assert check_models("models", "eca_resnet50") == ["eca_resnet50"]
    with pytest.raises(ValueError, match=r"unknown model\(s\) \['nope'\]; allowed: .*eca_resnet50"):
        check_models("models", ["nope"])
    with pytest.raises(ValueError, match="at least one"):
        check_models("models", [])
    assert check_models("m", ["ecaresnet50d"], source=None) == ["ecaresnet50d"]
    with pytest.raises(ValueError, match="unknown"):
        check_models("m", ["ecaresnet50d"])  # timm names only where allowed


def test_check_int_and_choice():
    assert check_int("input_size", 224, minimum=32) == 224
    for bad in ("224", 2.5, True, 8):
        with pytest.raises(ValueError, match="input_size"):
            check_int("input_size", bad, minimum=32)
    assert check_choice("device", "cpu", ["cpu", "cuda"]) == "cpu"
    with pytest.raises(ValueError, match="choose one of: cpu, cuda"):
        check_choice("device", "tpu", ["cpu", "cuda"])


PARAMETERS_CELL = """# Parameters (papermill -p NAME VALUE); validated in the next cell
epochs = None  # type: Optional[int] epochs; None: the recipe's
channels_last: bool = False  # a flag
profile: str = "full"  # a profile
"""


def papermill_namespace(**values):
    """A kernel's globals in the check cell, after the parameters cell and the cell papermill injects (``In``
    is IPython's input history, the current cell last)."""
    from papermill.translators import PythonTranslator

    defaults = {"epochs": None, "channels_last": False, "profile": "full"}
    injected = PythonTranslator.codify(values)  # the cell papermill writes, "# Parameters" first
    return {**defaults, **values, "In": ["", PARAMETERS_CELL, injected, "check_parameters(globals())"]}


def test_unknown_papermill_parameters_are_refused_naming_the_parameters_cell():
    with pytest.raises(ValueError, match=r"unknown parameter\(s\) \['epoch'\]; .* are: epochs, channels_last, profile"):
        check_parameters(papermill_namespace(epoch=3))
    check_parameters(papermill_namespace(epochs=3, profile="smoke"))
    defaults = {"epochs": None, "channels_last": False, "profile": "full"}
    by_hand = {**defaults, "In": ["", PARAMETERS_CELL, "check_parameters(globals())"]}
    assert check_parameters(by_hand) == ["epochs", "channels_last", "profile"]  # run by hand: nothing injected
    rerun = papermill_namespace(epochs=3)
    rerun["In"] += ["print(epochs)", "check_parameters(globals())"]  # the check run again later, by hand
    assert check_parameters(rerun) == ["epochs", "channels_last", "profile"]
    with pytest.raises(ValueError, match="run the notebook's parameters cell before"):
        check_parameters({"In": ["", "check_parameters(globals())"]})
    with pytest.raises(ValueError, match="may only assign parameters, not 'import os'"):
        check_parameters({"In": ["", PARAMETERS_CELL + "import os\n", "check_parameters(globals())"]})


def test_boolean_parameters_must_be_booleans():
    with pytest.raises(ValueError, match="parameter channels_last must be True or False, got 'maybe'"):
        check_parameters(papermill_namespace(channels_last="maybe"))
    with pytest.raises(ValueError, match="got 1"):
        check_parameters(papermill_namespace(channels_last=1))
    for given, expected in (("true", True), ("False", False), (True, True)):
        namespace = papermill_namespace(channels_last=given)
        check_parameters(namespace)
        assert namespace["channels_last"] is expected
    namespace = papermill_namespace(profile="true")
    check_parameters(namespace)
    assert namespace["profile"] == "true"  # a str parameter stays a str
