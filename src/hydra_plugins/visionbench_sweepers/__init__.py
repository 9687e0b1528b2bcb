"""visionbench's grid sweeper (Hydra only loads sweepers from the ``hydra_plugins`` namespace package)."""
