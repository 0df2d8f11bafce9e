package pipeline

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
)

// Secret names: keys of Secrets(cfg); values reach containers only as
// secret env vars or mounted secret files.
const (
	SecretPostgresPassword  = "postgres-password"
	SecretAirflowDBPassword = "airflow-db-password"
	SecretDbtDBPassword     = "dbt-db-password"
	SecretValkeyPassword    = "valkey-password"
	SecretValkeyConf        = "valkey-auth-conf"
	SecretWWWPassword       = "airflow-www-password"
	SecretSQLAlchemyConn    = "airflow-sql-alchemy-conn"
	SecretResultBackend     = "airflow-celery-result-backend"
	SecretBrokerURL         = "airflow-celery-broker-url"
	SecretFernetKey         = "airflow-fernet-key"
	SecretJWTSecret         = "airflow-jwt-secret"
	SecretAnalyticsConn     = "airflow-conn-analytics"
	SecretFlowerAuth        = "airflow-flower-basic-auth"
	SecretLogServerKey      = "airflow-log-server-key"
	// SecretLiveKey opens the live receiver: always generated per project
	// (see LiveKey), never given.
	SecretLiveKey = "live-key"
	// SecretSettings is the settings file with the values of .env it names
	// (see SettingsFile).
	SecretSettings = "airflow-settings"
	// SecretUpgradeConn is the upgrade test's copy of the metadata
	// database, as the other Airflow reaches it.
	SecretUpgradeConn = "upgrade-sql-alchemy-conn"
)

// Secrets computes every secret value from the configuration, by name.
// Credentials are percent-encoded inside connection URLs, so any printable
// character works in a password (and none can redirect a connection).
func Secrets(c Config) map[string]string {
	host, port := c.DatabaseHost(), c.databasePort()
	broker, brokerPort := c.broker()
	secrets := map[string]string{
		SecretPostgresPassword:  c.PostgresPassword,
		SecretAirflowDBPassword: c.AirflowDBPassword,
		SecretDbtDBPassword:     c.DbtDBPassword,
		SecretValkeyPassword:    c.ValkeyPassword,
		SecretValkeyConf:        "requirepass " + valkeyQuote(c.ValkeyPassword) + "\n",
		SecretWWWPassword:       c.AirflowWWWPassword,
		SecretSQLAlchemyConn:    dbURL("postgresql+psycopg2", host, port, c.AirflowDBUser, c.AirflowDBPassword, c.AirflowDBName),
		SecretResultBackend:     "db+" + dbURL("postgresql", host, port, c.AirflowDBUser, c.AirflowDBPassword, c.AirflowDBName),
		SecretBrokerURL: fmt.Sprintf("redis://:%s@%s:%d/0", EscapeUserinfo(c.ValkeyPassword),
			broker, brokerPort),
		SecretFlowerAuth:    c.AirflowWWWUser + ":" + c.AirflowWWWPassword,
		SecretAnalyticsConn: dbURL("postgresql", host, port, c.DbtDBUser, c.DbtDBPassword, c.DbtDBName),
		SecretLogServerKey:  logServerKey(c),
		SecretUpgradeConn:   dbURL("postgresql+psycopg2", HostUpgradeDB, PortPostgres, c.AirflowDBUser, c.AirflowDBPassword, c.AirflowDBName),
	}
	// Keys the user gave; the others are generated in the stack (see Init).
	if c.AirflowFernetKey != "" {
		secrets[SecretFernetKey] = c.AirflowFernetKey
	}
	if c.AirflowJWTSecret != "" {
		secrets[SecretJWTSecret] = c.AirflowJWTSecret
	}
	for name, value := range c.AirflowSecrets {
		secrets[passThroughSecret(name)] = value
	}
	if c.Settings != nil {
		secrets[SecretSettings] = c.settingsResolved
	}
	return secrets
}

// passThroughSecret names the secret of an Airflow variable from .env.
func passThroughSecret(variable string) string {
	return "env-" + strings.ToLower(strings.ReplaceAll(variable, "_", "-"))
}

// dbURL is a connection URL to a database of the stack's PostgreSQL.
func dbURL(scheme, host string, port int, user, password, db string) string {
	return fmt.Sprintf("%s://%s:%s@%s:%d/%s", scheme, EscapeUserinfo(user), EscapeUserinfo(password),
		host, port, db)
}

// logServerKey signs the api-server's requests for task logs to a worker
// node's log server ([api] secret_key; the api-server has it only with
// remote workers, see stack). Both ends must hold the same key, on two
// machines, so it is derived from a secret both already have: the Airflow
// role's password, which opens far more (the metadata database). The
// api-server also signs its UI sessions with it; it changes with that
// password.
func logServerKey(c Config) string {
	mac := hmac.New(sha256.New, []byte(c.AirflowDBPassword))
	mac.Write([]byte("dataplatform worker log server"))
	return hex.EncodeToString(mac.Sum(nil))
}

// EscapeUserinfo percent-encodes every byte but RFC 3986's unreserved ones.
// SQLAlchemy, kombu and Airflow's connection parser all decode it; '$' never
// meets Airflow's environment-variable expansion, '%' never a config parser.
func EscapeUserinfo(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		ch := s[i]
		if 'a' <= ch && ch <= 'z' || 'A' <= ch && ch <= 'Z' || '0' <= ch && ch <= '9' || strings.IndexByte("-._~", ch) >= 0 {
			b.WriteByte(ch)
		} else {
			fmt.Fprintf(&b, "%%%02X", ch)
		}
	}
	return b.String()
}

// valkeyQuote is a double-quoted string of Valkey's config file syntax:
// backslash and double quote escaped, every other byte outside printable
// ASCII as \xHH.
func valkeyQuote(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		switch ch := s[i]; {
		case ch == '\\' || ch == '"':
			b.WriteByte('\\')
			b.WriteByte(ch)
		case ch < 0x20 || ch >= 0x7f:
			fmt.Fprintf(&b, "\\x%02x", ch)
		default:
			b.WriteByte(ch)
		}
	}
	b.WriteByte('"')
	return b.String()
}
