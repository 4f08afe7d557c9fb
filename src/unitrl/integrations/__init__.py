"""unitrl as the reward function of other RL engines, loaded by their own configuration (`verl`)."""
