"""What Lightning's DDP strategy needs for a module whose optimizer steps leave parameters out of a backward.

With manual optimisation and one optimizer per part (GANModule: D, G and w),
each backward reaches only the part being stepped; DistributedDataParallel
must then be told to look for the parameters a backward did not use
(``find_unused_parameters``), or it waits for their gradients and stops at
the next step. The module turns that on itself, before the strategy wraps it.
"""

from __future__ import annotations

from pytorch_lightning.strategies import DDPStrategy, Strategy

from steer.errors import SteerError


def detect_unused_parameters(strategy: Strategy, module: str) -> None:
    """Make a DDP ``strategy`` detect unused parameters (its cost: one walk over the autograd graph per backward).

    Call it from the module's ``setup`` hook: Lightning builds DistributedDataParallel after that hook, with the
    options the strategy holds. A strategy whose detection the user turned off explicitly is one line naming the
    strategy to use instead. Other strategies are left alone.
    """
    if not isinstance(strategy, DDPStrategy):
        return
    options = strategy._ddp_kwargs  # DistributedDataParallel's options; Lightning gives them no public setter
    if options.get("find_unused_parameters") is False:
        raise SteerError(f"{module} steps each of its parts with its own optimizer, so every backward leaves the "
                         "other parts' parameters unused, and DDP with find_unused_parameters=False waits for them; "
                         "use --trainer.strategy ddp (steer turns the detection on) or ddp_find_unused_parameters_true.")
    options["find_unused_parameters"] = True
