"""Probe job: copies a Kafka topic to another, upper-casing each value, through the Kafka SQL
connector on the session cluster. Run: flink run -d -py kafka_copy.py --bootstrap … --source … --sink …"""

import argparse

from pyflink.table import EnvironmentSettings, TableEnvironment

from credit_platform import config
from credit_platform.contracts.names import KAFKA_ADMIN
from credit_platform.stream.flink_config import kafka_sql_options

parser = argparse.ArgumentParser()
parser.add_argument("--bootstrap", required=True)
parser.add_argument("--source", required=True)
parser.add_argument("--sink", required=True)
parser.add_argument("--name", required=True)
args = parser.parse_args()
login = kafka_sql_options(config.load(), KAFKA_ADMIN)

t_env = TableEnvironment.create(EnvironmentSettings.in_streaming_mode())
t_env.get_config().set("pipeline.name", args.name)
t_env.execute_sql(f"""
    CREATE TABLE src (`value` STRING) WITH (
        'connector' = 'kafka', 'topic' = '{args.source}',
        'properties.bootstrap.servers' = '{args.bootstrap}'{login}, 'properties.group.id' = '{args.name}',
        'scan.startup.mode' = 'earliest-offset', 'format' = 'raw')""")
t_env.execute_sql(f"""
    CREATE TABLE dst (`value` STRING) WITH (
        'connector' = 'kafka', 'topic' = '{args.sink}',
        'properties.bootstrap.servers' = '{args.bootstrap}'{login}, 'format' = 'raw')""")
t_env.execute_sql("INSERT INTO dst SELECT UPPER(`value`) FROM src")
