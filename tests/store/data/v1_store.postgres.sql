-- A decision store of schema version 1 on PostgreSQL, dumped with pg_dump (--inserts) from a store
-- written by provider 0.1.0 (schema 1): requests pending (prompted or not), decided, expired, decided by
-- default at the deadline, and cancelled. Session settings and psql meta-commands removed; __SCHEMA__
-- stands for the schema the test loads it into.

CREATE TABLE __SCHEMA__.ighil_requests (
    request_id character varying(64) NOT NULL,
    dag_id character varying(250) NOT NULL,
    run_id character varying(250) NOT NULL,
    task_id character varying(250) NOT NULL,
    map_index integer NOT NULL,
    try_number integer NOT NULL,
    channel character varying(32) NOT NULL,
    recipients text NOT NULL,
    options text NOT NULL,
    default_option character varying(100),
    created_at timestamp without time zone NOT NULL,
    expires_at timestamp without time zone NOT NULL,
    status character varying(16) NOT NULL,
    prompt_message_id character varying(255),
    chosen_option character varying(100),
    responded_by character varying(64),
    responded_at timestamp without time zone,
    decision_mid character varying(255),
    timed_out boolean NOT NULL
);
CREATE TABLE __SCHEMA__.ighil_schema_version (
    id integer NOT NULL,
    version integer NOT NULL
);
INSERT INTO __SCHEMA__.ighil_requests VALUES ('ba2a0f2d3e67c426ebe5b0b448ee77e0', 'v1_dag', 'run_1', 'approve', -1, 1, 'instagram', '["17841400000000001", "17841400000000002"]', '["Approve", "Reject"]', NULL, '2026-11-01 12:00:00', '2030-01-01 00:00:00', 'pending', 'm_prompt_1', NULL, NULL, NULL, NULL, false);
INSERT INTO __SCHEMA__.ighil_requests VALUES ('23704f73c12f7df027c55e185dd9f8ab', 'v1_dag', 'run_2', 'approve', -1, 1, 'instagram', '["17841400000000001", "17841400000000002"]', '["Approve", "Reject"]', NULL, '2026-11-01 12:00:00', '2030-01-01 00:00:00', 'pending', NULL, NULL, NULL, NULL, NULL, false);
INSERT INTO __SCHEMA__.ighil_requests VALUES ('5aea383386013c8a1c87eb801e7d84f9', 'v1_dag', 'run_3', 'approve', -1, 1, 'instagram', '["17841400000000001", "17841400000000002"]', '["Approve", "Reject"]', NULL, '2026-11-01 12:00:00', '2030-01-01 00:00:00', 'decided', 'm_prompt_3', 'Reject', '17841400000000002', '2026-11-01 12:05:00', 'm_tap_3', false);
INSERT INTO __SCHEMA__.ighil_requests VALUES ('ad11b7972880176438790a9b62dc95f8', 'v1_dag', 'run_4', 'approve', -1, 1, 'instagram', '["17841400000000001", "17841400000000002"]', '["Approve", "Reject"]', NULL, '2026-11-01 12:00:00', '2026-11-01 13:00:00', 'expired', NULL, NULL, NULL, '2026-11-01 13:00:00', NULL, true);
INSERT INTO __SCHEMA__.ighil_requests VALUES ('84d01e01585f49073a40883b67a06efd', 'v1_dag', 'run_5', 'approve', -1, 1, 'instagram', '["17841400000000001", "17841400000000002"]', '["Approve", "Reject"]', 'Approve', '2026-11-01 12:00:00', '2026-11-01 13:00:00', 'decided', NULL, 'Approve', NULL, '2026-11-01 13:00:00', NULL, true);
INSERT INTO __SCHEMA__.ighil_requests VALUES ('fa8fef8b1332a63d068a30a2c5e9ebaa', 'v1_dag', 'run_6', 'approve', -1, 1, 'instagram', '["17841400000000001", "17841400000000002"]', '["Approve", "Reject"]', NULL, '2026-11-01 12:00:00', '2030-01-01 00:00:00', 'cancelled', NULL, NULL, NULL, NULL, NULL, false);
INSERT INTO __SCHEMA__.ighil_schema_version VALUES (1, 1);
ALTER TABLE ONLY __SCHEMA__.ighil_requests
    ADD CONSTRAINT ighil_requests_pkey PRIMARY KEY (request_id);
ALTER TABLE ONLY __SCHEMA__.ighil_schema_version
    ADD CONSTRAINT ighil_schema_version_pkey PRIMARY KEY (id);
ALTER TABLE ONLY __SCHEMA__.ighil_requests
    ADD CONSTRAINT uq_ighil_requests_try UNIQUE (dag_id, run_id, task_id, map_index, try_number);
CREATE INDEX ix_ighil_requests_status_expires ON __SCHEMA__.ighil_requests USING btree (status, expires_at);
