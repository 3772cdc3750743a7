"""Pure values and decisions: the stage graph, stage keys and the plan. No I/O."""
