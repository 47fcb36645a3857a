"""Airflow's own human-in-the-loop operators, answered from a chat: the prompt text, Airflow identities
and the bridge that writes a reviewer's answer into Airflow's ``hitlDetails``."""
