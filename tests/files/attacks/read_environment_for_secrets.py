"""Read the worker's environment, looking for the grader's secret."""
import os

from attack_prelude import verdict

env = dict(os.environ)
verdict(names=sorted(env), secret=[k for k, v in env.items() if "adv-secret" in v or k == "COURSE_ADV_SECRET"],
        home=env.get("HOME"))
