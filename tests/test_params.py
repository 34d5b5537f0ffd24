import pytest

from ecalib.params import as_list, check_choice, check_int, check_models


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
