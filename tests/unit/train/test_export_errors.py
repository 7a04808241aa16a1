from __future__ import annotations

import pytest

from train_container.errors import TrainingError
from train_container.export import _op_error_cause, check_writable


def test_op_error_cause_keeps_only_what_the_user_can_act_on():
    message = (
        "{{function_node __wrapped__SaveV2_dtypes_43_device_/job:localhost/replica:0/task:0/device:CPU:0}} "
        "/opt/ml/model/.1.partial/variables/x.tempstate1; No space left on device [Op:SaveV2]"
    )
    assert _op_error_cause(message) == "No space left on device"
    assert _op_error_cause("plain message\nsecond line") == "plain message"


def test_graph_execution_error_gives_its_cause_not_its_heading():
    message = (
        "Graph execution error:\n\nDetected at node SaveV2 defined at (most recent call last):\n"
        '  File "/x/export.py", line 40, in export_model\n\n'
        "/opt/ml/model/.1.partial/variables; No such file or directory\n\t [[{{node SaveV2}}]] [Op:__inference_save]"
    )
    assert _op_error_cause(message) == "No such file or directory"


def test_check_writable_names_the_directory(tmp_path):
    check_writable(tmp_path / "model")  # created when missing
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(TrainingError, match=f"^{blocker}/model is not writable: "):
        check_writable(blocker / "model")
