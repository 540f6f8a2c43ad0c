-- Predicted customer value (BG/NBD + Gamma-Gamma): one row per refresh, the fitted models,
-- the settings and, when a holdout was asked for, the backtest. The per-customer figures
-- are attributes (`clv_*`) in `customers.numeric_values`.
CREATE TABLE clv_models (
    model_id    bigserial PRIMARY KEY,
    fitted_at   timestamptz NOT NULL DEFAULT now(),
    -- `domain::clv::ClvModel`.
    document    jsonb NOT NULL,
    -- Whether the document holds a backtest (GET /v1/clv/calibration reads the latest).
    has_backtest boolean NOT NULL
);
