// Runs once, when the mongo container starts on an empty data volume
// (/docker-entrypoint-initdb.d). The platform connects as `credit_app`, which can read and write
// database `credit` only; the root user stays for administration.
db.getSiblingDB("credit").createUser({
  user: "credit_app",
  pwd: process.env.CP_MONGO_APP_PASSWORD,
  roles: [{ role: "readWrite", db: "credit" }],
});
