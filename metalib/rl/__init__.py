"""Meta-reinforcement learning: environments whose tasks differ, stepped for many tasks at once.

- :mod:`metalib.rl.navigation`: 2-D navigation (Finn, Abbeel & Levine, 2017, section 5.3).
- :mod:`metalib.rl.maml_rl`: MAML with a policy-gradient inner step, every task at once.
"""
from .maml_rl import GaussianPolicy, meta_loss
from .navigation import HORIZON, Navigation2D, Trajectories, rollout, sample_goals

__all__ = ["HORIZON", "GaussianPolicy", "Navigation2D", "Trajectories", "meta_loss", "rollout", "sample_goals"]
