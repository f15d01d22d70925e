"""The schema, as an append-only list of migrations (:func:`tempograph.database.migrate`
applies them in order, each exactly once)."""

from __future__ import annotations

# Append-only: never edit or reorder an entry once released; add a new one instead.
MIGRATIONS: tuple[str, ...] = (
    # 1: bookkeeping of API-side resources; the tables for threads, runs and assistants
    # arrive with the endpoints that use them.
    """
    CREATE TABLE IF NOT EXISTS tempograph_info (
        key text PRIMARY KEY,
        value jsonb NOT NULL
    );
    CREATE EXTENSION IF NOT EXISTS vector;
    """,
    # 2: assistants, with every version kept
    """
    CREATE TABLE assistants (
        assistant_id uuid PRIMARY KEY,
        graph_id text NOT NULL,
        config jsonb NOT NULL DEFAULT '{}',
        context jsonb NOT NULL DEFAULT '{}',
        metadata jsonb NOT NULL DEFAULT '{}',
        name text NOT NULL,
        description text,
        version integer NOT NULL DEFAULT 1,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX assistants_graph_id ON assistants (graph_id);
    CREATE INDEX assistants_metadata ON assistants USING gin (metadata jsonb_path_ops);
    CREATE TABLE assistant_versions (
        assistant_id uuid NOT NULL REFERENCES assistants ON DELETE CASCADE,
        version integer NOT NULL,
        graph_id text NOT NULL,
        config jsonb NOT NULL,
        context jsonb NOT NULL,
        metadata jsonb NOT NULL,
        name text NOT NULL,
        description text,
        created_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (assistant_id, version)
    );
    """,
    # 3: threads, runs (one row per API run; several may share one RunWorkflow when a run
    # waits at interrupt() and is resumed) and each run's durable event log for SSE.
    """
    CREATE TABLE threads (
        thread_id uuid PRIMARY KEY,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now(),
        state_updated_at timestamptz NOT NULL DEFAULT now(),
        metadata jsonb NOT NULL DEFAULT '{}',
        config jsonb NOT NULL DEFAULT '{}',
        status text NOT NULL DEFAULT 'idle',
        "values" jsonb,
        interrupts jsonb NOT NULL DEFAULT '{}',
        error jsonb
    );
    CREATE INDEX threads_metadata ON threads USING gin (metadata jsonb_path_ops);
    CREATE INDEX threads_updated_at ON threads (updated_at DESC);
    CREATE TABLE runs (
        run_id uuid PRIMARY KEY,
        thread_id uuid NOT NULL REFERENCES threads ON DELETE CASCADE,
        assistant_id uuid NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now(),
        status text NOT NULL DEFAULT 'pending',
        metadata jsonb NOT NULL DEFAULT '{}',
        kwargs jsonb NOT NULL DEFAULT '{}',
        multitask_strategy text NOT NULL DEFAULT 'enqueue',
        workflow_id text,
        idempotency_key text UNIQUE,
        output jsonb,
        event_seq bigint NOT NULL DEFAULT 0
    );
    CREATE INDEX runs_thread ON runs (thread_id, created_at DESC);
    CREATE TABLE run_events (
        run_id uuid NOT NULL REFERENCES runs ON DELETE CASCADE,
        seq bigint NOT NULL,
        key text NOT NULL,
        event text NOT NULL,
        data text NOT NULL,
        PRIMARY KEY (run_id, seq),
        UNIQUE (run_id, key)
    );
    """,
    # 4: the long-term memory store (tempograph.store.PostgresStore). A namespace is kept
    # as its labels joined with "." (labels may not contain "."). The vectors table is
    # created by PostgresStore.setup(), since its dimension comes from the index config.
    """
    CREATE TABLE store_items (
        prefix text NOT NULL,
        key text NOT NULL,
        value jsonb NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now(),
        expires_at timestamptz,
        ttl_minutes double precision,
        PRIMARY KEY (prefix, key)
    );
    CREATE INDEX store_items_prefix ON store_items (prefix text_pattern_ops);
    CREATE INDEX store_items_updated_at ON store_items (updated_at DESC);
    CREATE INDEX store_items_expires_at ON store_items (expires_at) WHERE expires_at IS NOT NULL;
    """,
    # 5: durable at any size. Content-addressed values (claim checks and the parts of
    # large state values); LangGraph's checkpoints, one row per checkpoint, per channel
    # version and per pending write, their values by reference; each thread's holder (the
    # RunWorkflow running or waiting on it); the execution that last wrote a run (a reset
    # execution takes the run over); the engine's request for a run, exactly as made
    # (kwargs is jsonb, which turns 1e300 into an integer); large events and outputs as
    # encoded values.
    """
    CREATE TABLE tempograph_values (
        hash bytea PRIMARY KEY,
        data bytea NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now()
    );
    CREATE TABLE checkpoints (
        thread_id text NOT NULL,
        checkpoint_ns text NOT NULL DEFAULT '',
        checkpoint_id text NOT NULL,
        parent_checkpoint_id text,
        run_id text,
        checkpoint_type text NOT NULL,
        checkpoint bytea NOT NULL,
        metadata_type text NOT NULL,
        metadata bytea NOT NULL,
        metadata_json jsonb NOT NULL DEFAULT '{}',
        created_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (thread_id, checkpoint_ns, checkpoint_id)
    );
    CREATE INDEX checkpoints_run_id ON checkpoints (run_id) WHERE run_id IS NOT NULL;
    CREATE INDEX checkpoints_metadata ON checkpoints USING gin (metadata_json jsonb_path_ops);
    CREATE TABLE checkpoint_blobs (
        thread_id text NOT NULL,
        checkpoint_ns text NOT NULL DEFAULT '',
        channel text NOT NULL,
        version text NOT NULL,
        value bytea NOT NULL,
        PRIMARY KEY (thread_id, checkpoint_ns, channel, version)
    );
    CREATE TABLE checkpoint_writes (
        thread_id text NOT NULL,
        checkpoint_ns text NOT NULL DEFAULT '',
        checkpoint_id text NOT NULL,
        task_id text NOT NULL,
        idx integer NOT NULL,
        channel text NOT NULL,
        value bytea NOT NULL,
        task_path text NOT NULL DEFAULT '',
        PRIMARY KEY (thread_id, checkpoint_ns, checkpoint_id, task_id, idx)
    );
    ALTER TABLE threads ADD COLUMN run_workflow_id text;
    ALTER TABLE threads ADD COLUMN waiting boolean NOT NULL DEFAULT false;
    CREATE INDEX threads_run_workflow_id ON threads (run_workflow_id)
        WHERE run_workflow_id IS NOT NULL;
    ALTER TABLE runs ADD COLUMN execution_id text;
    ALTER TABLE runs ADD COLUMN request bytea;
    ALTER TABLE runs ADD COLUMN output_value bytea;
    CREATE INDEX runs_workflow_id ON runs (workflow_id);
    CREATE INDEX runs_in_flight ON runs (thread_id, created_at)
        WHERE status IN ('pending', 'running');
    ALTER TABLE run_events ADD COLUMN value bytea;
    ALTER TABLE run_events ALTER COLUMN data DROP NOT NULL;
    """,
    # 6: tenants and built-in API keys. Every thread, assistant and run belongs to a
    # tenant ('' when the API has no built-in auth); a run records who started it. A key
    # is stored as its id and the SHA-256 of its secret, never the secret itself.
    """
    ALTER TABLE threads ADD COLUMN tenant_id text NOT NULL DEFAULT '';
    ALTER TABLE assistants ADD COLUMN tenant_id text NOT NULL DEFAULT '';
    ALTER TABLE runs ADD COLUMN tenant_id text NOT NULL DEFAULT '';
    ALTER TABLE runs ADD COLUMN created_by text;
    CREATE INDEX threads_tenant ON threads (tenant_id, updated_at DESC);
    CREATE INDEX assistants_tenant ON assistants (tenant_id);
    CREATE INDEX runs_tenant_in_flight ON runs (tenant_id)
        WHERE status IN ('pending', 'running');
    CREATE TABLE api_keys (
        key_id text PRIMARY KEY,
        secret_sha256 bytea NOT NULL,
        tenant_id text NOT NULL,
        role text NOT NULL,
        name text,
        created_at timestamptz NOT NULL DEFAULT now(),
        revoked_at timestamptz
    );
    """,
    # 7: the audit log: append-only (triggers refuse UPDATE, DELETE and TRUNCATE), each
    # row chained to the one before by SHA-256 over a canonical form computed here, so
    # writers and `tempograph audit verify` hash the same bytes.
    """
    CREATE TABLE audit_log (
        seq bigint PRIMARY KEY,
        at timestamptz NOT NULL,
        tenant_id text NOT NULL DEFAULT '',
        actor text NOT NULL,
        key_id text,
        action text NOT NULL,
        resource text,
        resource_id text,
        outcome integer NOT NULL,
        detail jsonb NOT NULL DEFAULT '{}',
        prev_hash bytea NOT NULL,
        hash bytea NOT NULL
    );
    CREATE INDEX audit_log_tenant_at ON audit_log (tenant_id, at);
    CREATE FUNCTION audit_log_content(
        seq bigint, at timestamptz, tenant_id text, actor text, key_id text, action text,
        resource text, resource_id text, outcome integer, detail jsonb
    ) RETURNS bytea LANGUAGE sql IMMUTABLE AS $$
        SELECT convert_to(jsonb_build_array(
            seq, to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'), tenant_id,
            actor, key_id, action, resource, resource_id, outcome, detail
        )::text, 'UTF8')
    $$;
    CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION 'audit_log is append-only: % is not allowed', TG_OP;
    END
    $$;
    CREATE TRIGGER audit_log_no_change BEFORE UPDATE OR DELETE ON audit_log
        FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
    CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
        FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();
    """,
    # 8: a thread's own time-to-live (minutes of inactivity) and what happens then; NULL
    # means langgraph.json's checkpointer.ttl default.
    """
    ALTER TABLE threads ADD COLUMN ttl_minutes double precision;
    ALTER TABLE threads ADD COLUMN ttl_strategy text;
    """,
    # 9: appending to the audit log in one round trip: the lock, the chain's last hash
    # and the insert happen in the server.
    """
    CREATE FUNCTION audit_log_append(
        p_tenant text, p_actor text, p_key text, p_action text, p_resource text,
        p_resource_id text, p_outcome integer, p_detail jsonb
    ) RETURNS bigint LANGUAGE plpgsql AS $$
    DECLARE
        last_seq bigint;
        last_hash bytea;
        stamp timestamptz := date_trunc('microseconds', now());
    BEGIN
        PERFORM pg_advisory_xact_lock(2117732877);
        SELECT seq, hash INTO last_seq, last_hash FROM audit_log ORDER BY seq DESC LIMIT 1;
        last_seq := coalesce(last_seq, 0) + 1;
        last_hash := coalesce(last_hash, decode(repeat('00', 32), 'hex'));
        INSERT INTO audit_log (seq, at, tenant_id, actor, key_id, action, resource,
            resource_id, outcome, detail, prev_hash, hash)
        VALUES (last_seq, stamp, p_tenant, p_actor, p_key, p_action, p_resource,
            p_resource_id, p_outcome, p_detail, last_hash,
            sha256(last_hash || audit_log_content(last_seq, stamp, p_tenant, p_actor, p_key,
                p_action, p_resource, p_resource_id, p_outcome, p_detail)));
        RETURN last_seq;
    END
    $$;
    """,
    # 10: what runs did and cost. A run names its graph (metrics, the console) and the
    # trace of the request that made it (a queued run's workflow continues it); run_usage
    # adds up the tokens and cost of every model call of every attempt (a failed attempt's
    # tokens were paid for too), one row per run and model; node_attempts keeps each node
    # attempt's times, outcome and error (sealed), the console's timeline.
    """
    ALTER TABLE runs ADD COLUMN graph_id text;
    ALTER TABLE runs ADD COLUMN traceparent text;
    CREATE TABLE run_usage (
        run_id uuid NOT NULL REFERENCES runs ON DELETE CASCADE,
        model text NOT NULL,
        calls bigint NOT NULL DEFAULT 0,
        input_tokens bigint NOT NULL DEFAULT 0,
        output_tokens bigint NOT NULL DEFAULT 0,
        cost_usd double precision,
        PRIMARY KEY (run_id, model)
    );
    CREATE TABLE node_attempts (
        run_id uuid NOT NULL REFERENCES runs ON DELETE CASCADE,
        task_id text NOT NULL,
        attempt integer NOT NULL,
        node text NOT NULL,
        started_at timestamptz NOT NULL,
        ended_at timestamptz NOT NULL,
        outcome text NOT NULL,
        error text,
        PRIMARY KEY (run_id, task_id, attempt)
    );
    """,
    # 11: circuit breakers per dependency (tempograph.breakers), one row each, shared by
    # every worker: closed, open or half_open (a trial attempt is out), the failures in
    # the window that began at window_start, and when it last opened or began its trial.
    """
    CREATE TABLE breakers (
        name text PRIMARY KEY,
        state text NOT NULL DEFAULT 'closed' CHECK (state IN ('closed', 'open', 'half_open')),
        failures integer NOT NULL DEFAULT 0,
        window_start timestamptz NOT NULL DEFAULT clock_timestamp(),
        opened_at timestamptz,
        changed_at timestamptz NOT NULL DEFAULT clock_timestamp(),
        last_error text
    );
    """,
    # 12: crons (tempograph.api.services.crons): what each makes runs of, and who made it;
    # when it fires is its Temporal Schedule's, "cron-<cron_id>". A thread's crons go
    # with it, and an assistant's. ``payload`` (the runs' input, config...) is sealed at rest.
    """
    CREATE TABLE crons (
        cron_id uuid PRIMARY KEY,
        assistant_id uuid NOT NULL REFERENCES assistants ON DELETE CASCADE,
        thread_id uuid REFERENCES threads ON DELETE CASCADE,
        tenant_id text NOT NULL DEFAULT '',
        user_id text,
        caller jsonb,
        schedule text NOT NULL,
        timezone text,
        end_time timestamptz,
        on_run_completed text,
        enabled boolean NOT NULL DEFAULT true,
        payload jsonb NOT NULL,
        metadata jsonb NOT NULL DEFAULT '{}',
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX crons_tenant ON crons (tenant_id, created_at DESC);
    CREATE INDEX crons_thread ON crons (thread_id);
    """,
    # 13: a thread's values held by reference (tempograph.api.storage.threads): when a
    # run leaves values with parts in tempograph_values (a list of 64 items or more, a
    # value of 16 KiB or more), the row keeps the encoded value, a few hundred bytes,
    # instead of a JSON copy the size of the state; it is rendered when read.
    """
    ALTER TABLE threads ADD COLUMN values_value bytea;
    """,
    # 14: the run that added a pending write. A resumed run writes its answer and its
    # first task's writes onto the checkpoint it resumed from, which an earlier run made;
    # a rollback removes those writes too, so that checkpoint is as it was.
    """
    ALTER TABLE checkpoint_writes ADD COLUMN run_id text;
    """,
)
