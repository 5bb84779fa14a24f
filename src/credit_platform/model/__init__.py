"""The credit model's life: fitting a scorecard on outcomes (`fit`), judging it out of time
(`evaluation`), keeping every version in the warehouse with one champion (`registry`), its report
(`report`), and the training run that ties them together (`training`). How a scorecard scores is a
rule, with its engine twins, in `credit_platform.rules.credit`."""

# The training run's defaults, for the job, the CLI and the DAG's form (this module imports nothing).
HISTORY_DAYS = 365  # applications from this many days before as_of
OUT_OF_TIME_SHARE = 0.2  # the latest share of them held out to judge the model
