"""The babysitter's seeded faults in PyTorch models, found through ``fit`` (the same table as watch and Lightning)."""
from __future__ import annotations

import pytest

pytest.importorskip("torch")

from _torch_faults import FAULTS, HEALTHY, assert_flagged, digits  # noqa: E402

from gradwise.train import fit  # noqa: E402
from gradwise.train.babysit import Babysitter  # noqa: E402


@pytest.mark.parametrize("fault", [*FAULTS.values(), HEALTHY], ids=[*FAULTS, "healthy"])
def test_fault_flagged_by_the_right_check_through_fit(fault):
    train, val = digits(fault.data)
    history = fit(fault.build(), train, val, loss="cross_entropy", optimizer=fault.optimizer, epochs=fault.epochs,
                  batch_size=32, seed=0, progress=False, callbacks=[Babysitter(fault.thresholds)])
    assert_flagged(fault, history.checks)
