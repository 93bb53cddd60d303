"""The domain: the day's problem, the policy, the plan, what is committed, findings, exit codes.

Imports nothing else of ours; every other layer imports it.
"""
