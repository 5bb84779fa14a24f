package creditplatform.flink;

import java.nio.charset.StandardCharsets;
import java.time.OffsetDateTime;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.time.format.DateTimeParseException;
import java.util.List;

import org.apache.flink.api.common.serialization.DeserializationSchema;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.formats.common.TimestampFormat;
import org.apache.flink.formats.json.JsonParserRowDataDeserializationSchema;
import org.apache.flink.formats.json.JsonRowDataDeserializationSchema;
import org.apache.flink.metrics.Counter;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.JsonNode;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.node.ObjectNode;
import org.apache.flink.table.data.GenericRowData;
import org.apache.flink.table.data.RowData;
import org.apache.flink.table.data.StringData;
import org.apache.flink.table.types.logical.LogicalTypeRoot;
import org.apache.flink.table.types.logical.RowType;
import org.apache.flink.util.Collector;

/**
 * Reads one event with Flink's JSON deserializer (strict: a syntax or type error throws) and checks
 * it against the contract; never returns null, so no record disappears. See
 * {@link ContractJsonFormatFactory}.
 */
public final class ContractJsonDeserializationSchema implements DeserializationSchema<RowData> {

    private static final long serialVersionUID = 1L;
    private static final int MAX_REASON = 1000;
    private static final DateTimeFormatter UTC_MILLIS =
            DateTimeFormatter.ofPattern("yyyy-MM-dd'T'HH:mm:ss.SSS'Z'").withZone(ZoneOffset.UTC);

    // Flink's streaming JSON reader (its json format's default) reads the usual record; the tree
    // reader runs only for a record the first one refuses: to say why, and to read event times
    // given with a zone offset.
    private final JsonParserRowDataDeserializationSchema fast;
    private final JsonRowDataDeserializationSchema json;
    private final TypeInformation<RowData> producedType;
    private final FieldCheck.Contract contract;
    private final int arity;
    private final int errorPos;
    private final int rawPos;
    private final String[] timestampFields;
    private transient Counter refused;
    private transient Capture capture;

    ContractJsonDeserializationSchema(RowType rowType, TypeInformation<RowData> producedType,
                                      FieldCheck.Contract contract) {
        // `_error` and `_raw` are declared fields of the row the JSON reader builds: a payload has no
        // such keys (or, if it smuggles them in, they are overwritten below), so the reader fills
        // the whole row in place and nothing is copied per record.
        this.fast = new JsonParserRowDataDeserializationSchema(rowType, producedType, false, false,
                TimestampFormat.ISO_8601);
        this.json = new JsonRowDataDeserializationSchema(rowType, producedType, false, false, TimestampFormat.ISO_8601);
        this.producedType = producedType;
        this.contract = contract;
        this.arity = rowType.getFieldCount();
        this.errorPos = rowType.getFieldNames().indexOf(ContractJsonFormatFactory.ERROR_COLUMN);
        this.rawPos = rowType.getFieldNames().indexOf(ContractJsonFormatFactory.RAW_COLUMN);
        this.timestampFields = rowType.getFields().stream()
                .filter(f -> f.getType().is(LogicalTypeRoot.TIMESTAMP_WITH_LOCAL_TIME_ZONE))
                .map(RowType.RowField::getName).toArray(String[]::new);
    }

    @Override
    public void open(InitializationContext context) throws Exception {
        fast.open(context);
        json.open(context);
        refused = context.getMetricGroup().counter("contractRecordsRefused");
    }

    @Override
    public RowData deserialize(byte[] message) {
        if (message == null || message.length == 0) {
            return refuse(new GenericRowData(arity), message, "empty record (no payload)");
        }
        if (message.length > contract.maxRecordBytes) {
            return refuse(new GenericRowData(arity), message, "record of " + message.length
                    + " bytes is over the limit of " + contract.maxRecordBytes);
        }
        GenericRowData row = readFast(message);
        JsonNode node = null;
        if (row == null) {
            try {
                node = json.deserializeToJsonNode(message);
            } catch (Throwable t) {
                return refuse(new GenericRowData(arity), message, "not JSON: " + describe(t));
            }
            if (!(node instanceof ObjectNode)) {
                return refuse(new GenericRowData(arity), message, "not a JSON object");
            }
            String zone = toUtc((ObjectNode) node);
            if (zone != null) {
                return refuse(new GenericRowData(arity), message, zone);
            }
            try {
                row = (GenericRowData) json.convertToRowData(node);
            } catch (Throwable t) {
                return refuse(new GenericRowData(arity), message, "a value of the wrong type: " + describe(t));
            }
        }
        String problems = contract.problems(row, node);
        if (problems != null) {
            if (node == null) {  // read again as a tree, to tell a missing value from one out of range
                try {
                    problems = contract.problems(row, json.deserializeToJsonNode(message));
                } catch (Throwable t) {
                    // keep the first reading's problems
                }
            }
            return refuse(row, message, problems);
        }
        row.setField(errorPos, null);
        row.setField(rawPos, null);
        return row;
    }

    /** The record read by the streaming reader, or null when it cannot read it. */
    private GenericRowData readFast(byte[] message) {
        if (capture == null) {
            capture = new Capture();
        }
        capture.row = null;
        try {
            fast.deserialize(message, capture);
        } catch (Throwable t) {
            return null;
        }
        return capture.row;
    }

    /** Receives the streaming reader's row (one subtask reads one record at a time). */
    private static final class Capture implements Collector<RowData> {
        GenericRowData row;

        @Override
        public void collect(RowData record) {
            row = (GenericRowData) record;
        }

        @Override
        public void close() {
        }
    }

    /**
     * Flink's ISO-8601 reader takes event times in UTC ("...Z") only; the contract takes any zone. An
     * offset such as "+02:00" is turned into the same instant in UTC here (nothing to do for the
     * usual "Z"); returns what is wrong with a time that is not ISO-8601 with a zone, else null.
     */
    private String toUtc(ObjectNode node) {
        for (String field : timestampFields) {
            JsonNode value = node.get(field);
            if (value == null || !value.isTextual()) {
                continue;
            }
            String text = value.asText();
            if (text.endsWith("Z")) {
                continue;
            }
            try {
                node.put(field, UTC_MILLIS.format(OffsetDateTime.parse(text).toInstant()));
            } catch (DateTimeParseException e) {
                return field + ": " + text + " is not an ISO-8601 time with a zone";
            }
        }
        return null;
    }

    private RowData refuse(GenericRowData row, byte[] message, String reason) {
        if (refused != null) {
            refused.inc();
        }
        String raw = message == null ? "" : new String(message, 0, Math.min(message.length, contract.maxRecordBytes),
                StandardCharsets.UTF_8);
        row.setField(errorPos, StringData.fromString(reason.length() > MAX_REASON
                ? reason.substring(0, MAX_REASON - 3) + "..." : reason));
        row.setField(rawPos, StringData.fromString(raw));
        return row;
    }

    /** The causes of a parse failure, without the payload Flink's outermost message repeats. */
    static String describe(Throwable error) {
        StringBuilder text = new StringBuilder();
        for (Throwable t = error; t != null; t = t.getCause()) {
            String message = t.getMessage();
            if (message == null || message.isEmpty()) {
                continue;
            }
            String line = message.split("\n", 2)[0].replaceAll("\\s*\\(?\\s*at \\[Source:.*$", "");
            if (text.indexOf(line) < 0) {
                text.append(text.length() == 0 ? "" : ": ").append(line);
            }
        }
        return text.length() == 0 ? error.getClass().getSimpleName() : text.toString();
    }

    @Override
    public boolean isEndOfStream(RowData nextElement) {
        return false;
    }

    @Override
    public TypeInformation<RowData> getProducedType() {
        return producedType;
    }

    List<FieldCheck> checks() {
        return contract.checks;
    }
}
