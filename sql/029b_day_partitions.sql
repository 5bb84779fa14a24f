-- credit_scores and processed_transactions are partitioned by business date, one partition a day,
-- so the nightly job replaces a day the way warehouses do: it loads the day into a fresh table
-- without indexes, builds the indexes after, and swaps it in for the day's old partition
-- (detach, drop, attach) in the transaction that loaded it. Readers see the old day until the
-- commit and the whole new day after it, and the swap holds its lock for milliseconds.
--
-- The key is (id, business_date): PostgreSQL's unique keys on a partitioned table must contain the
-- partition key. Within a day the id is still unique; across days the load checks it (an id loaded
-- under another date is refused into data_quality_issues, as before).
--
-- Upgrades a warehouse whose tables are not partitioned yet (rows without a business date take
-- their event's UTC date); on a partitioned one it only keeps the functions current.

DO $$
DECLARE
    t record;
    d date;
    index_ddl text[];
    ddl text;
BEGIN
    FOR t IN SELECT * FROM (VALUES ('credit_scores', 'application_id'),
                                   ('processed_transactions', 'transaction_id')) AS v(name, key) LOOP
        CONTINUE WHEN (SELECT relkind FROM pg_class WHERE oid = format('public.%I', t.name)::regclass) = 'p';
        -- the secondary indexes, re-created on the partitioned table under the same names
        SELECT coalesce(array_agg(pg_get_indexdef(i.indexrelid)), '{}') INTO index_ddl
        FROM pg_index i
        WHERE i.indrelid = format('public.%I', t.name)::regclass
          AND NOT EXISTS (SELECT FROM pg_constraint c WHERE c.conindid = i.indexrelid)
          AND pg_get_indexdef(i.indexrelid) NOT LIKE '%(business_date)';
        EXECUTE format('UPDATE public.%I SET business_date = ("timestamp" AT TIME ZONE ''UTC'')::date '
                       'WHERE business_date IS NULL', t.name);
        EXECUTE format('CREATE TABLE public.%I (LIKE public.%I INCLUDING DEFAULTS INCLUDING CONSTRAINTS) '
                       'PARTITION BY LIST (business_date)', t.name || '_by_day', t.name);
        FOR d IN EXECUTE format('SELECT DISTINCT business_date FROM public.%I', t.name) LOOP
            EXECUTE format('CREATE TABLE public.%I PARTITION OF public.%I FOR VALUES IN (%L)',
                           t.name || '_' || to_char(d, 'YYYYMMDD'), t.name || '_by_day', d);
        END LOOP;
        EXECUTE format('INSERT INTO public.%I SELECT * FROM public.%I', t.name || '_by_day', t.name);
        EXECUTE format('DROP TABLE public.%I CASCADE', t.name);  -- the bi views: 030 re-creates them
        EXECUTE format('ALTER TABLE public.%I RENAME TO %I', t.name || '_by_day', t.name);
        EXECUTE format('ALTER TABLE public.%I ADD CONSTRAINT %I PRIMARY KEY (%I, business_date)',
                       t.name, t.name || '_pkey', t.key);
        FOREACH ddl IN ARRAY index_ddl LOOP
            EXECUTE ddl;
        END LOOP;
    END LOOP;
END
$$;

-- A partition holds one date: an index on that date is of no use.
DROP INDEX IF EXISTS public.credit_scores_business_date_idx;
DROP INDEX IF EXISTS public.processed_transactions_business_date_idx;

-- The day's load, in the loader's transaction: day_load_begin, COPY, day_load_build, and
-- day_load_swap last. etl_writer may neither create nor alter tables, so these functions, which run
-- with their owner's rights, do the DDL, for these two tables only.

-- A fresh table shaped like the day's partition, without indexes, that etl_writer may fill.
CREATE OR REPLACE FUNCTION public.day_load_begin(tbl text, day date) RETURNS text
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    fresh text := format('%s_%s_%s', tbl, to_char(day, 'YYYYMMDD'), txid_current());
BEGIN
    IF tbl IS NULL OR day IS NULL OR tbl NOT IN ('credit_scores', 'processed_transactions') THEN
        RAISE EXCEPTION 'day_load_begin: % is not a table partitioned by business date', tbl
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    -- one load of a table's day at a time: a second one waits, then replaces the first one's day
    PERFORM pg_advisory_xact_lock(hashtext('day_load:' || tbl), (day - DATE '2000-01-01'));
    EXECUTE format('CREATE TABLE public.%I (LIKE public.%I INCLUDING DEFAULTS INCLUDING CONSTRAINTS)', fresh, tbl);
    -- lets the attach skip its scan: the rows are known to be of the day
    EXECUTE format('ALTER TABLE public.%I ADD CONSTRAINT %I CHECK (business_date = %L)', fresh, fresh || '_day', day);
    EXECUTE format('GRANT SELECT, INSERT, DELETE ON public.%I TO etl_writer', fresh);
    RETURN fresh;
END $$;

-- The table day_load_begin made for this day of tbl in this transaction, not yet attached; anything
-- else is refused.
CREATE OR REPLACE FUNCTION public.day_load_table(tbl text, day date, fresh text) RETURNS regclass
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    loaded regclass := to_regclass(format('public.%I', fresh));
BEGIN
    IF tbl IS NULL OR day IS NULL OR tbl NOT IN ('credit_scores', 'processed_transactions') OR loaded IS NULL
       -- made in this very transaction: one begun and committed earlier (left over) is not swapped in
       OR fresh <> format('%s_%s_%s', tbl, to_char(day, 'YYYYMMDD'), txid_current())
       OR (SELECT relkind FROM pg_class WHERE oid = loaded) <> 'r'
       OR (SELECT relowner FROM pg_class WHERE oid = loaded) <> (SELECT oid FROM pg_roles WHERE rolname = current_user)
       OR EXISTS (SELECT FROM pg_inherits WHERE inhrelid = loaded) THEN
        RAISE EXCEPTION 'day load: % is not a table day_load_begin made for % of %', fresh, day, tbl
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    RETURN loaded;
END $$;

-- The parent's keys and indexes built on the loaded day, and its statistics; readers still see the
-- old day meanwhile.
CREATE OR REPLACE FUNCTION public.day_load_build(tbl text, day date, fresh text) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    loaded regclass := public.day_load_table(tbl, day, fresh);
    parent regclass := format('public.%I', tbl)::regclass;
    stmt text;
BEGIN
    FOR stmt IN
        SELECT format('ALTER TABLE %s ADD %s', loaded, pg_get_constraintdef(c.oid))
        FROM pg_constraint c WHERE c.conrelid = parent AND c.contype IN ('p', 'u')
        UNION ALL
        SELECT regexp_replace(pg_get_indexdef(i.indexrelid), '^CREATE (UNIQUE )?INDEX \S+ ON (ONLY )?\S+',
                              'CREATE \1INDEX ON ' || loaded::text)
        FROM pg_index i
        WHERE i.indrelid = parent AND NOT EXISTS (SELECT FROM pg_constraint c WHERE c.conindid = i.indexrelid)
    LOOP
        EXECUTE stmt;
    END LOOP;
    EXECUTE format('ANALYZE %s', loaded);
END $$;

-- The swap: the day's old partition detached and dropped, the loaded table attached in its place.
-- Takes the parent's ACCESS EXCLUSIVE lock until the commit, so the loader calls it last. Returns
-- the rows replaced.
CREATE OR REPLACE FUNCTION public.day_load_swap(tbl text, day date, fresh text) RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    loaded regclass := public.day_load_table(tbl, day, fresh);
    parent regclass := format('public.%I', tbl)::regclass;
    old regclass;
    replaced bigint := 0;
BEGIN
    SELECT c.oid INTO old FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
    WHERE i.inhparent = parent AND pg_get_expr(c.relpartbound, c.oid) = format('FOR VALUES IN (%L)', day);
    IF old IS NOT NULL THEN
        EXECUTE format('SELECT count(*) FROM %s', old) INTO replaced;
        EXECUTE format('ALTER TABLE %s DETACH PARTITION %s', parent, old);
        EXECUTE format('DROP TABLE %s', old);
    END IF;
    EXECUTE format('ALTER TABLE %s ATTACH PARTITION %s FOR VALUES IN (%L)', parent, loaded, day);
    RETURN replaced;
END $$;

REVOKE ALL ON FUNCTION public.day_load_table(text, date, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION public.day_load_begin(text, date), public.day_load_build(text, date, text),
    public.day_load_swap(text, date, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION public.day_load_begin(text, date), public.day_load_build(text, date, text),
    public.day_load_swap(text, date, text) TO etl_writer;
