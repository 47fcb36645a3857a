-- A decision store of schema version 2 on PostgreSQL, dumped with pg_dump (--inserts) from a store
-- written by the provider at schema 2 (tests/store/data/v2_store.db holds the same rows on SQLite):
-- requests pending (one recipient prompted, one failed), decided with a reason and a queued reply, a
-- quorum with one approval, an Airflow-HITL request on Messenger, cancelled, and decided by default at
-- the deadline. Session settings and psql meta-commands removed; __SCHEMA__ stands for the schema the
-- test loads it into.

CREATE TABLE __SCHEMA__.ighil_outbox (
    id integer NOT NULL,
    request_id character varying(64),
    channel character varying(32) NOT NULL,
    recipient_id character varying(64) NOT NULL,
    kind character varying(16) NOT NULL,
    text text NOT NULL,
    created_at timestamp without time zone NOT NULL,
    not_before timestamp without time zone NOT NULL,
    claimed_until timestamp without time zone,
    state character varying(16) NOT NULL,
    sent_at timestamp without time zone,
    message_id character varying(255),
    attempts integer NOT NULL,
    last_error character varying(255)
);

CREATE SEQUENCE __SCHEMA__.ighil_outbox_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

ALTER SEQUENCE __SCHEMA__.ighil_outbox_id_seq OWNED BY __SCHEMA__.ighil_outbox.id;

CREATE TABLE __SCHEMA__.ighil_recipients (
    id integer NOT NULL,
    request_id character varying(64) NOT NULL,
    channel character varying(32) NOT NULL,
    recipient_id character varying(64) NOT NULL,
    name character varying(64),
    role character varying(16) NOT NULL,
    prompt_message_id character varying(255),
    prompted_at timestamp without time zone,
    reminded_at timestamp without time zone,
    delivery character varying(16) NOT NULL,
    delivery_error character varying(255)
);

CREATE SEQUENCE __SCHEMA__.ighil_recipients_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

ALTER SEQUENCE __SCHEMA__.ighil_recipients_id_seq OWNED BY __SCHEMA__.ighil_recipients.id;

CREATE TABLE __SCHEMA__.ighil_requests (
    request_id character varying(64) NOT NULL,
    dag_id character varying(250) NOT NULL,
    run_id character varying(250) NOT NULL,
    task_id character varying(250) NOT NULL,
    map_index integer NOT NULL,
    try_number integer NOT NULL,
    source character varying(32) NOT NULL,
    subject text,
    options text NOT NULL,
    reject_options text NOT NULL,
    default_option character varying(100),
    policy character varying(16) NOT NULL,
    min_approvals integer,
    veto boolean NOT NULL,
    created_at timestamp without time zone NOT NULL,
    expires_at timestamp without time zone NOT NULL,
    status character varying(16) NOT NULL,
    chosen_option character varying(100),
    responded_by character varying(64),
    responded_at timestamp without time zone,
    timed_out boolean NOT NULL,
    closed_reason character varying(255)
);

CREATE TABLE __SCHEMA__.ighil_responses (
    id integer NOT NULL,
    request_id character varying(64) NOT NULL,
    responder_id character varying(64) NOT NULL,
    channel character varying(32) NOT NULL,
    option character varying(100) NOT NULL,
    reason character varying(500),
    mid character varying(255),
    received_at timestamp without time zone NOT NULL,
    source character varying(16) NOT NULL
);

CREATE SEQUENCE __SCHEMA__.ighil_responses_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

ALTER SEQUENCE __SCHEMA__.ighil_responses_id_seq OWNED BY __SCHEMA__.ighil_responses.id;

CREATE TABLE __SCHEMA__.ighil_schema_version (
    id integer NOT NULL,
    version integer NOT NULL
);

ALTER TABLE ONLY __SCHEMA__.ighil_outbox ALTER COLUMN id SET DEFAULT nextval('__SCHEMA__.ighil_outbox_id_seq'::regclass);

ALTER TABLE ONLY __SCHEMA__.ighil_recipients ALTER COLUMN id SET DEFAULT nextval('__SCHEMA__.ighil_recipients_id_seq'::regclass);

ALTER TABLE ONLY __SCHEMA__.ighil_responses ALTER COLUMN id SET DEFAULT nextval('__SCHEMA__.ighil_responses_id_seq'::regclass);

INSERT INTO __SCHEMA__.ighil_outbox VALUES (1, 'c70bd032b6907934a288788dd2eeabdd', 'instagram', '17841400000000001', 'reply', 'Recorded: Reject.', '2026-11-20 12:05:00', '2026-11-20 12:05:00', NULL, 'pending', NULL, NULL, 0, NULL);

INSERT INTO __SCHEMA__.ighil_recipients VALUES (1, 'c74962e2674cb944edee56c7bc02ef05', 'instagram', '17841400000000001', 'alice', 'reviewer', 'm_1', '2026-12-02 08:28:33.193272', NULL, 'sent', NULL);
INSERT INTO __SCHEMA__.ighil_recipients VALUES (2, 'c74962e2674cb944edee56c7bc02ef05', 'instagram', '17841400000000002', 'bob', 'reviewer', NULL, NULL, NULL, 'failed', 'MessagingWindowClosedError: window');
INSERT INTO __SCHEMA__.ighil_recipients VALUES (3, 'c70bd032b6907934a288788dd2eeabdd', 'instagram', '17841400000000001', 'alice', 'reviewer', 'm_2a', '2026-12-02 08:28:33.225322', NULL, 'sent', NULL);
INSERT INTO __SCHEMA__.ighil_recipients VALUES (4, 'c70bd032b6907934a288788dd2eeabdd', 'instagram', '17841400000000002', 'bob', 'reviewer', 'm_2b', '2026-12-02 08:28:33.22908', NULL, 'sent', NULL);
INSERT INTO __SCHEMA__.ighil_recipients VALUES (5, '9b2d5bdc8df154dcb8a543d60db5baba', 'instagram', '17841400000000001', 'alice', 'reviewer', 'm_3a', '2026-12-02 08:28:33.265059', NULL, 'sent', NULL);
INSERT INTO __SCHEMA__.ighil_recipients VALUES (6, '9b2d5bdc8df154dcb8a543d60db5baba', 'instagram', '17841400000000002', 'bob', 'reviewer', 'm_3b', '2026-12-02 08:28:33.269108', NULL, 'sent', NULL);
INSERT INTO __SCHEMA__.ighil_recipients VALUES (7, 'b6004264e2b3d7db2a31feaf0d276fb8', 'messenger', '6543210987654321', 'alice', 'reviewer', NULL, NULL, NULL, 'pending', NULL);
INSERT INTO __SCHEMA__.ighil_recipients VALUES (8, 'e4cd99bf964d24134ce6fe9979f26864', 'instagram', '17841400000000001', 'alice', 'reviewer', NULL, NULL, NULL, 'pending', NULL);
INSERT INTO __SCHEMA__.ighil_recipients VALUES (9, 'e4cd99bf964d24134ce6fe9979f26864', 'instagram', '17841400000000002', 'bob', 'reviewer', NULL, NULL, NULL, 'pending', NULL);
INSERT INTO __SCHEMA__.ighil_recipients VALUES (10, '0173f34302c36b7db69decd639053829', 'instagram', '17841400000000001', 'alice', 'reviewer', NULL, NULL, NULL, 'pending', NULL);
INSERT INTO __SCHEMA__.ighil_recipients VALUES (11, '0173f34302c36b7db69decd639053829', 'instagram', '17841400000000002', 'bob', 'reviewer', NULL, NULL, NULL, 'pending', NULL);

INSERT INTO __SCHEMA__.ighil_requests VALUES ('c74962e2674cb944edee56c7bc02ef05', 'v2_dag', 'run_1', 'approve', -1, 1, 'operator', 'Ship run_1?', '["Approve", "Reject"]', '["Reject"]', NULL, 'first', NULL, false, '2026-11-20 12:00:00', '2036-11-17 12:00:00', 'pending', NULL, NULL, NULL, false, NULL);
INSERT INTO __SCHEMA__.ighil_requests VALUES ('c70bd032b6907934a288788dd2eeabdd', 'v2_dag', 'run_2', 'approve', -1, 1, 'operator', 'Ship run_2?', '["Approve", "Reject"]', '["Reject"]', NULL, 'first', NULL, false, '2026-11-20 12:00:00', '2036-11-17 12:00:00', 'decided', 'Reject', '17841400000000001', '2026-11-20 12:05:00', false, NULL);
INSERT INTO __SCHEMA__.ighil_requests VALUES ('9b2d5bdc8df154dcb8a543d60db5baba', 'v2_dag', 'run_3', 'approve', -1, 1, 'operator', 'Ship run_3?', '["Approve", "Reject"]', '["Reject"]', NULL, 'quorum', 2, false, '2026-11-20 12:00:00', '2036-11-17 12:00:00', 'pending', NULL, NULL, NULL, false, NULL);
INSERT INTO __SCHEMA__.ighil_requests VALUES ('b6004264e2b3d7db2a31feaf0d276fb8', 'v2_dag', 'run_4', 'approve', -1, 1, 'airflow-hitl', 'Ship run_4?', '["Approve", "Reject"]', '["Reject"]', NULL, 'first', NULL, false, '2026-11-20 12:00:00', '2036-11-17 12:00:00', 'pending', NULL, NULL, NULL, false, NULL);
INSERT INTO __SCHEMA__.ighil_requests VALUES ('e4cd99bf964d24134ce6fe9979f26864', 'v2_dag', 'run_5', 'approve', -1, 1, 'operator', 'Ship run_5?', '["Approve", "Reject"]', '["Reject"]', NULL, 'first', NULL, false, '2026-11-20 12:00:00', '2036-11-17 12:00:00', 'cancelled', NULL, NULL, '2026-11-20 12:07:00', false, 'the task was stopped in Airflow');
INSERT INTO __SCHEMA__.ighil_requests VALUES ('0173f34302c36b7db69decd639053829', 'v2_dag', 'run_6', 'approve', -1, 1, 'operator', 'Ship run_6?', '["Approve", "Reject"]', '["Reject"]', 'Reject', 'first', NULL, false, '2026-11-20 12:00:00', '2026-11-20 13:00:00', 'decided', 'Reject', NULL, '2026-11-20 13:00:01', true, NULL);

INSERT INTO __SCHEMA__.ighil_responses VALUES (1, 'c70bd032b6907934a288788dd2eeabdd', '17841400000000001', 'instagram', 'Reject', 'numbers look wrong', 'mid_2', '2026-11-20 12:05:00', 'instagram');
INSERT INTO __SCHEMA__.ighil_responses VALUES (2, '9b2d5bdc8df154dcb8a543d60db5baba', '17841400000000002', 'instagram', 'Approve', NULL, 'mid_3', '2026-11-20 12:06:00', 'instagram');

INSERT INTO __SCHEMA__.ighil_schema_version VALUES (1, 2);

SELECT pg_catalog.setval('__SCHEMA__.ighil_outbox_id_seq', 1, true);

SELECT pg_catalog.setval('__SCHEMA__.ighil_recipients_id_seq', 11, true);

SELECT pg_catalog.setval('__SCHEMA__.ighil_responses_id_seq', 2, true);

ALTER TABLE ONLY __SCHEMA__.ighil_outbox
    ADD CONSTRAINT ighil_outbox_pkey PRIMARY KEY (id);

ALTER TABLE ONLY __SCHEMA__.ighil_recipients
    ADD CONSTRAINT ighil_recipients_pkey PRIMARY KEY (id);

ALTER TABLE ONLY __SCHEMA__.ighil_requests
    ADD CONSTRAINT ighil_requests_pkey PRIMARY KEY (request_id);

ALTER TABLE ONLY __SCHEMA__.ighil_responses
    ADD CONSTRAINT ighil_responses_pkey PRIMARY KEY (id);

ALTER TABLE ONLY __SCHEMA__.ighil_schema_version
    ADD CONSTRAINT ighil_schema_version_pkey PRIMARY KEY (id);

ALTER TABLE ONLY __SCHEMA__.ighil_recipients
    ADD CONSTRAINT uq_ighil_recipients_request UNIQUE (request_id, channel, recipient_id);

ALTER TABLE ONLY __SCHEMA__.ighil_requests
    ADD CONSTRAINT uq_ighil_requests_try UNIQUE (dag_id, run_id, task_id, map_index, try_number);

ALTER TABLE ONLY __SCHEMA__.ighil_responses
    ADD CONSTRAINT uq_ighil_responses_responder UNIQUE (request_id, responder_id);

CREATE INDEX ix_ighil_outbox_due ON __SCHEMA__.ighil_outbox USING btree (state, not_before);

CREATE INDEX ix_ighil_outbox_request ON __SCHEMA__.ighil_outbox USING btree (request_id);

CREATE INDEX ix_ighil_recipients_sender ON __SCHEMA__.ighil_recipients USING btree (channel, recipient_id);

CREATE INDEX ix_ighil_requests_responded_at ON __SCHEMA__.ighil_requests USING btree (responded_at);

CREATE INDEX ix_ighil_requests_status_expires ON __SCHEMA__.ighil_requests USING btree (status, expires_at);
