"""No-op training is caught in the first steps: no trainable parameters, or weights that never move."""

from types import SimpleNamespace

import pytest
import torch
from durable_finetune.runtime import StageFailure
from durable_finetune.training import MovedCheck


def state(step):
    return SimpleNamespace(global_step=step)


def test_weights_that_do_not_move_fail_after_the_allowed_steps():
    model = torch.nn.Linear(4, 4)
    check = MovedCheck(steps=2)
    check.on_train_begin(None, state(0), None, model=model)
    check.on_step_end(None, state(1), None, model=model)  # lr 0 on a warmup's first step: allowed
    with pytest.raises(StageFailure) as e:
        check.on_step_end(None, state(2), None, model=model)
    assert e.value.failure_class == "no_op_training" and "unchanged after 2 optimizer steps" in str(e.value)


def test_weights_that_move_pass_and_are_not_checked_again():
    model = torch.nn.Linear(4, 4)
    check = MovedCheck(steps=1)
    check.on_train_begin(None, state(10), None, model=model)  # a resumed run counts from its start step
    with torch.no_grad():
        model.bias.add_(1e-3)
    check.on_step_end(None, state(11), None, model=model)
    assert check.moved_at == 11
    check.on_step_end(None, state(12), None, model=model)


def test_no_trainable_parameters_fail_before_the_first_step():
    model = torch.nn.Linear(4, 4).requires_grad_(False)
    with pytest.raises(StageFailure) as e:
        MovedCheck(steps=3).on_train_begin(None, state(0), None, model=model)
    assert e.value.failure_class == "no_op_training"
