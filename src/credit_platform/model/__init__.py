"""The credit model's life: fitting a scorecard on outcomes (`fit`), judging it out of time
(`evaluation`), keeping every version in the warehouse with one champion (`registry`), its report
(`report`), and the training run that ties them together (`training`). How a scorecard scores is a
rule, with its engine twins, in `credit_platform.rules.credit`."""
