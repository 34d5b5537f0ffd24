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


def papermill_namespace(**values):
    """A kernel's globals after papermill ran the parameters cell and then injected ``values``."""
    from papermill.translators import PythonTranslator

    defaults = {"epochs": None, "channels_last": False, "profile": "full"}
    injected = PythonTranslator.codify(values)  # the cell papermill writes, "# Parameters" first
    return {**defaults, **values, "In": ["", "# Parameters (papermill -p NAME VALUE)\nepochs = None\n", injected]}


def test_unknown_papermill_parameters_are_refused():
    known = ["epochs", "channels_last", "profile"]
    with pytest.raises(ValueError, match=r"unknown parameter\(s\) \['epoch'\]; .* are: epochs, channels_last, profile"):
        check_parameters(papermill_namespace(epoch=3), known)
    check_parameters(papermill_namespace(epochs=3, profile="smoke"), known)
    check_parameters({"epochs": None, "In": ["epoch = 3"]}, known)  # run by hand: nothing injected


def test_boolean_parameters_must_be_booleans():
    known, booleans = ["epochs", "channels_last", "profile"], ["channels_last"]
    with pytest.raises(ValueError, match="parameter channels_last must be True or False, got 'maybe'"):
        check_parameters(papermill_namespace(channels_last="maybe"), known, booleans)
    with pytest.raises(ValueError, match="got 1"):
        check_parameters(papermill_namespace(channels_last=1), known, booleans)
    for given, expected in (("true", True), ("False", False), (True, True)):
        namespace = papermill_namespace(channels_last=given)
        check_parameters(namespace, known, booleans)
        assert namespace["channels_last"] is expected
