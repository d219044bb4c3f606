"""SQL of the PostgreSQL ledger store: tables, the one write function, triggers, row security.

Objects live in schema :data:`SCHEMA`, owned by a role that cannot log in (the *owner*); the
application logs in as another role (the *app*) that may only ``SELECT`` (subject to row-level
security) and ``EXECUTE`` the two functions below:

* ``ledger_lock()`` takes the chain-head lock (``SELECT ... FOR UPDATE`` of the single ``head``
  row) for the rest of the transaction, so rule checks can read before appending;
* ``ledger_append(actor, event_type, payload)`` is the only write path: under the same lock it
  numbers the entry ``head.seq + 1`` (gap-free: the lock serialises writers, and a rolled-back
  transaction leaves the head unchanged), stamps the database's UTC clock, hashes the payload and
  the entry exactly as :func:`validation.ledger.chain.entry_hash` (the PostgreSQL ``to_json`` of
  the actor is its RFC 8785 string: the actor has no control characters), inserts, moves the
  head and returns the new row's fields.

Triggers refuse UPDATE, DELETE and TRUNCATE of ``entries`` and ``meta`` (even by the owner).

Row-level security: every entry has a ``scope`` -- the ``site`` of an entry whose payload names a
``patient_id`` and a ``site`` (a correction inherits its target's scope), ``'!admin'`` for
``auth.*`` events (tokens), ``''`` (everyone) otherwise. The app sees the rows whose scope is
``''`` or equals the session setting ``her2map.scope``; scope ``'*'`` sees every row (the server
sets it per request from the token: a site's reads run with the site's scope).
"""

from __future__ import annotations

__all__ = ["SCHEMA", "schema_sql"]

#: Name of the PostgreSQL schema that holds the ledger.
SCHEMA = "her2map"

_TABLES = """
CREATE TABLE {schema}.meta (key text PRIMARY KEY, value text NOT NULL);
INSERT INTO {schema}.meta (key, value) VALUES ('format', '{format}');
CREATE TABLE {schema}.entries (
    seq bigint PRIMARY KEY CHECK (seq > 0),
    time_utc text NOT NULL,
    actor text NOT NULL,
    event_type text NOT NULL,
    payload text NOT NULL,
    payload_hash text NOT NULL,
    prev_hash text NOT NULL,
    entry_hash text NOT NULL,
    scope text NOT NULL,
    patient_id text,
    target_seq bigint
);
CREATE INDEX entries_event_type ON {schema}.entries (event_type, seq);
CREATE INDEX entries_patient_id ON {schema}.entries (patient_id, seq) WHERE patient_id IS NOT NULL;
CREATE INDEX entries_target_seq ON {schema}.entries (target_seq) WHERE target_seq IS NOT NULL;
CREATE TABLE {schema}.head (
    id int PRIMARY KEY CHECK (id = 1),
    seq bigint NOT NULL,
    entry_hash text NOT NULL
);
INSERT INTO {schema}.head (id, seq, entry_hash) VALUES (1, 0, '{genesis}');

CREATE FUNCTION {schema}.refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'ledger % is append-only: % refused (append a correction instead)',
        TG_TABLE_NAME, TG_OP USING ERRCODE = 'insufficient_privilege';
END $$;
CREATE TRIGGER entries_append_only BEFORE UPDATE OR DELETE ON {schema}.entries
    FOR EACH ROW EXECUTE FUNCTION {schema}.refuse_change();
CREATE TRIGGER entries_no_truncate BEFORE TRUNCATE ON {schema}.entries
    FOR EACH STATEMENT EXECUTE FUNCTION {schema}.refuse_change();
CREATE TRIGGER meta_read_only BEFORE UPDATE OR DELETE ON {schema}.meta
    FOR EACH ROW EXECUTE FUNCTION {schema}.refuse_change();
CREATE TRIGGER meta_no_truncate BEFORE TRUNCATE ON {schema}.meta
    FOR EACH STATEMENT EXECUTE FUNCTION {schema}.refuse_change();
CREATE TRIGGER head_no_delete BEFORE DELETE ON {schema}.head
    FOR EACH ROW EXECUTE FUNCTION {schema}.refuse_change();
CREATE TRIGGER head_no_truncate BEFORE TRUNCATE ON {schema}.head
    FOR EACH STATEMENT EXECUTE FUNCTION {schema}.refuse_change();

CREATE FUNCTION {schema}.ledger_lock() RETURNS bigint
LANGUAGE sql SECURITY DEFINER SET search_path = {schema}, pg_temp AS $$
    SELECT seq FROM {schema}.head WHERE id = 1 FOR UPDATE
$$;

CREATE FUNCTION {schema}.ledger_append(p_actor text, p_event_type text, p_payload text)
RETURNS TABLE (o_seq bigint, o_time_utc text, o_payload_hash text, o_prev_hash text,
               o_entry_hash text)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = {schema}, pg_temp AS $$
DECLARE
    h record;
    doc jsonb;
    v_seq bigint;
    v_time text;
    v_payload_hash text;
    v_entry_hash text;
    v_scope text := '';
    v_patient text;
    v_target bigint;
BEGIN
    IF p_event_type IS NULL OR length(p_event_type) > 64
       OR p_event_type !~ '^[a-z][a-z0-9_]*([.-][a-z0-9_]+)*$' THEN
        RAISE EXCEPTION 'event_type % is not lower-case words joined by ".", "_" or "-"',
            p_event_type USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF p_actor IS NULL OR btrim(p_actor) = '' OR length(p_actor) > 256
       OR p_actor ~ '[[:cntrl:]]' THEN
        RAISE EXCEPTION 'actor % must be 1-256 printable characters', p_actor
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    doc := p_payload::jsonb;
    IF jsonb_typeof(doc) <> 'object' THEN
        RAISE EXCEPTION 'payload must be a JSON object' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    SELECT seq, entry_hash INTO h FROM head WHERE id = 1 FOR UPDATE;
    IF jsonb_typeof(doc -> 'patient_id') = 'string' THEN
        v_patient := doc ->> 'patient_id';
        IF jsonb_typeof(doc -> 'site') = 'string' THEN
            v_scope := doc ->> 'site';
        END IF;
    END IF;
    IF p_event_type LIKE 'auth.%' THEN
        v_scope := '!admin';
    ELSIF p_event_type = 'ledger.correction' AND jsonb_typeof(doc -> 'target_seq') = 'number' THEN
        v_target := (doc ->> 'target_seq')::bigint;
        SELECT e.scope INTO v_scope FROM entries e WHERE e.seq = v_target;
        v_scope := coalesce(v_scope, '');
    END IF;
    v_seq := h.seq + 1;
    v_time := to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"');
    v_payload_hash := encode(sha256(convert_to(p_payload, 'UTF8')), 'hex');
    v_entry_hash := encode(sha256(convert_to(format(
        '{{"actor":%s,"event_type":"%s","payload_hash":"%s","prev_hash":"%s","seq":%s,"time_utc":"%s"}}',
        to_json(p_actor)::text, p_event_type, v_payload_hash, h.entry_hash, v_seq, v_time),
        'UTF8')), 'hex');
    INSERT INTO entries (seq, time_utc, actor, event_type, payload, payload_hash, prev_hash,
                         entry_hash, scope, patient_id, target_seq)
    VALUES (v_seq, v_time, p_actor, p_event_type, p_payload, v_payload_hash, h.entry_hash,
            v_entry_hash, v_scope, v_patient, v_target);
    UPDATE head SET seq = v_seq, entry_hash = v_entry_hash WHERE id = 1;
    RETURN QUERY SELECT v_seq, v_time, v_payload_hash, h.entry_hash, v_entry_hash;
END $$;

ALTER TABLE {schema}.entries ENABLE ROW LEVEL SECURITY;
CREATE POLICY entries_by_scope ON {schema}.entries FOR SELECT USING (
    scope = ''
    OR current_setting('her2map.scope', true) = '*'
    OR scope = current_setting('her2map.scope', true)
);
"""

_GRANTS = """
REVOKE ALL ON SCHEMA {schema} FROM PUBLIC;
REVOKE ALL ON ALL TABLES IN SCHEMA {schema} FROM PUBLIC;
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA {schema} FROM PUBLIC;
GRANT USAGE ON SCHEMA {schema} TO {app};
GRANT SELECT ON {schema}.entries, {schema}.meta, {schema}.head TO {app};
GRANT EXECUTE ON FUNCTION {schema}.ledger_lock(), {schema}.ledger_append(text, text, text)
    TO {app};
"""


def schema_sql(*, schema: str, app: str, fmt: str, genesis: str) -> tuple[str, str]:
    """(objects, grants): the SQL run as the owner role, then the grants to the app role.

    ``schema`` and ``app`` must already be checked identifiers (quoted by the caller).
    """
    return (
        _TABLES.format(schema=schema, format=fmt, genesis=genesis),
        _GRANTS.format(schema=schema, app=app),
    )
