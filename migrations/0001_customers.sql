-- The customer store.
--
-- Layout: one row per customer; its attributes live in two positional arrays,
-- `numeric_values float8[]` and `categorical_values text[]`. The `attributes`
-- catalogue maps each attribute name to its kind and its (1-based) position in
-- the array of that kind. A clustering snapshot reads `numeric_values[p]` for
-- the chosen positions in one sequential scan (`COPY ... TO STDOUT (FORMAT binary)`),
-- with no per-attribute joins and no JSON parsing; a missing value is a NULL
-- element (or an array shorter than the position). See BENCHMARKS.md for the
-- measured cost against a plain wide table.
--
-- The CRM's id is the primary key (byte order, "C" collation): CRM lookups need no join,
-- keyset pagination walks the index, and a bulk insert maintains one index, not two.

CREATE FUNCTION segstore_set_updated_at() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    NEW.updated_at := now();
    RETURN NEW;
END;
$$;

CREATE TABLE attributes (
    attribute_id integer GENERATED ALWAYS AS IDENTITY,
    name         text    NOT NULL,
    kind         text    NOT NULL,
    position     integer NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT attributes_pkey PRIMARY KEY (attribute_id),
    CONSTRAINT attributes_name_key UNIQUE (name),
    CONSTRAINT attributes_kind_position_key UNIQUE (kind, position),
    CONSTRAINT attributes_kind_check CHECK (kind IN ('numeric', 'categorical')),
    CONSTRAINT attributes_position_check CHECK (position >= 1),
    CONSTRAINT attributes_name_check CHECK (name ~ '^[a-z][a-z0-9_]{0,62}(\.[a-z][a-z0-9_]{0,62})?$')
);

COMMENT ON TABLE attributes IS
    'Attribute catalogue: name -> kind and position in customers.numeric_values / categorical_values';

CREATE TABLE customers (
    external_id        text COLLATE "C" NOT NULL,
    numeric_values     float8[] NOT NULL DEFAULT '{}',
    categorical_values text[]   NOT NULL DEFAULT '{}',
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT customers_pkey PRIMARY KEY (external_id),
    CONSTRAINT customers_external_id_check CHECK (length(external_id) BETWEEN 1 AND 128)
);

COMMENT ON COLUMN customers.external_id IS 'The CRM''s own customer id, kept verbatim (never parsed as a number)';

CREATE TRIGGER customers_set_updated_at
    BEFORE UPDATE ON customers
    FOR EACH ROW EXECUTE FUNCTION segstore_set_updated_at();
