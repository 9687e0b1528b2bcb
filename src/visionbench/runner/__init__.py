"""What train.py and evaluate.py call: build objects from the config, run Lightning, write the run directory."""

from visionbench.runner.run_dir import register_resolvers
from visionbench.runner.sweep_direction import register_direction_resolver

register_resolvers()
register_direction_resolver()
