-- Order lines: what customers bought. A line is identified by its order id and its line
-- number within the order (the explicit line id of the export, or its position among the
-- order's lines in the file), so importing the same file twice stores each line once.
--
-- No foreign key to customers: an import creates the customers it names in the same
-- transaction, and deleting a customer deletes its lines (the service does both). Checking
-- the key row by row cost 5 s of a 400,000-line import; the index on external_id another 1 s
-- (features are derived by whole-table aggregation, which does not need it).
CREATE TABLE order_lines (
    order_id    text COLLATE "C" NOT NULL,
    line_no     integer NOT NULL,
    external_id text COLLATE "C" NOT NULL,
    ordered_at  timestamptz NOT NULL,
    product     text,
    description text,
    quantity    float8 NOT NULL,
    -- NULL when the export gives line amounts only.
    unit_price  float8,
    -- quantity × unit price, or the export's line amount.
    amount      float8 NOT NULL,
    currency    text,
    country     text,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT order_lines_pkey PRIMARY KEY (order_id, line_no),
    CONSTRAINT order_lines_line_no_check CHECK (line_no >= 1)
);

CREATE TRIGGER order_lines_set_updated_at
    BEFORE UPDATE ON order_lines
    FOR EACH ROW EXECUTE FUNCTION segstore_set_updated_at();
