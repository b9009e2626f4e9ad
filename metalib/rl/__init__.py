"""Meta-reinforcement learning: environments whose tasks differ, stepped for many tasks at once.

- :mod:`metalib.rl.navigation`: 2-D navigation (Finn, Abbeel & Levine, 2017, section 5.3).
- :mod:`metalib.rl.maml_rl`: MAML with a policy-gradient inner step, every task at once.
- :mod:`metalib.rl.rl2`: RL², a recurrent policy that adapts in its memory across episodes.
"""
from .maml_rl import GaussianPolicy, meta_loss
from .navigation import HORIZON, Navigation2D, Trajectories, rollout, sample_goals
from .rl2 import RecurrentPolicy, play_trials, trial_loss

__all__ = ["HORIZON", "GaussianPolicy", "Navigation2D", "RecurrentPolicy", "Trajectories", "meta_loss",
           "play_trials", "rollout", "sample_goals", "trial_loss"]
