"""Meta-reinforcement learning: environments whose tasks differ, stepped for many tasks at once.

- :mod:`metalib.rl.navigation`: 2-D navigation (Finn, Abbeel & Levine, 2017, section 5.3).
"""
from .navigation import HORIZON, Navigation2D, Trajectories, rollout, sample_goals

__all__ = ["HORIZON", "Navigation2D", "Trajectories", "rollout", "sample_goals"]
