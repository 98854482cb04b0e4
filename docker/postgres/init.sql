-- Databases of the provincial nodes; the central node's database is
-- POSTGRES_DB of the compose file. Run once, when the data volume is new.
CREATE DATABASE theodoi_tu01;
CREATE DATABASE theodoi_tu79;
