-- One database per service (each service owns its data).
CREATE DATABASE tern_bff;
CREATE DATABASE tern_datasets;
CREATE DATABASE tern_training;
CREATE DATABASE tern_inference;
CREATE DATABASE tern_notifications;
