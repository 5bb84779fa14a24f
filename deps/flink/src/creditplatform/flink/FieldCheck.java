package creditplatform.flink;

import java.io.Serializable;
import java.math.BigDecimal;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import java.util.regex.Pattern;

import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.JsonNode;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.ObjectMapper;
import org.apache.flink.table.api.ValidationException;
import org.apache.flink.table.data.DecimalData;
import org.apache.flink.table.data.GenericRowData;
import org.apache.flink.table.types.logical.DecimalType;
import org.apache.flink.table.types.logical.LogicalType;
import org.apache.flink.table.types.logical.RowType;

/**
 * One field rule of the contract (the Java twin of {@code FieldRule} in credit_platform.contracts.events
 * and of the Spark job's checks), applied to a parsed row. Messages read as the Spark job's.
 */
final class FieldCheck implements Serializable {

    private static final long serialVersionUID = 1L;

    /** The rules of the fields a table declares, and the record size bound. */
    static final class Contract implements Serializable {
        private static final long serialVersionUID = 1L;
        final int maxRecordBytes;
        final List<FieldCheck> checks;

        Contract(int maxRecordBytes, List<FieldCheck> checks) {
            this.maxRecordBytes = maxRecordBytes;
            this.checks = checks;
        }

        /** Every problem of the row, "; "-separated, or null when it keeps the contract. */
        String problems(GenericRowData row, JsonNode event) {
            StringBuilder found = null;
            for (FieldCheck check : checks) {
                String problem = check.problem(row, event);
                if (problem != null) {
                    found = found == null ? new StringBuilder(problem) : found.append("; ").append(problem);
                }
            }
            return found == null ? null : found.toString();
        }
    }

    final String name;
    final int position;
    final String type;  // string | int | float | bool | timestamp
    final boolean required;
    final Double minimum;
    final boolean strictMinimum;
    final Double maximum;
    final Set<String> allowed;
    final Integer minLength;
    final Integer maxLength;
    final Pattern pattern;
    final boolean finite;
    private final int precision;
    private final int scale;

    private FieldCheck(JsonNode rule, int position, LogicalType logical) {
        this.name = rule.get("name").asText();
        this.position = position;
        this.type = rule.get("type").asText();
        this.required = rule.path("required").asBoolean(false);
        this.minimum = rule.hasNonNull("minimum") ? rule.get("minimum").asDouble() : null;
        this.strictMinimum = rule.path("strict_minimum").asBoolean(false);
        this.maximum = rule.hasNonNull("maximum") ? rule.get("maximum").asDouble() : null;
        if (rule.hasNonNull("allowed")) {
            this.allowed = new LinkedHashSet<>();
            rule.get("allowed").forEach(v -> allowed.add(v.asText()));
        } else {
            this.allowed = null;
        }
        this.minLength = rule.hasNonNull("min_length") ? rule.get("min_length").asInt() : null;
        this.maxLength = rule.hasNonNull("max_length") ? rule.get("max_length").asInt() : null;
        this.pattern = rule.hasNonNull("pattern") ? Pattern.compile(rule.get("pattern").asText()) : null;
        this.finite = rule.path("finite").asBoolean(false);
        if (logical instanceof DecimalType) {
            this.precision = ((DecimalType) logical).getPrecision();
            this.scale = ((DecimalType) logical).getScale();
        } else {
            this.precision = 0;
            this.scale = 0;
        }
    }

    /** The checks of the fields `rowType` declares, from the contract's JSON ({"max_record_bytes", "fields"}). */
    static Contract parse(String json, RowType rowType) {
        JsonNode root;
        try {
            root = new ObjectMapper().readTree(json);
        } catch (Exception e) {
            throw new ValidationException("contract-json.rules is not JSON: " + e.getMessage(), e);
        }
        List<FieldCheck> checks = new ArrayList<>();
        for (JsonNode rule : root.path("fields")) {
            int position = rowType.getFieldNames().indexOf(rule.get("name").asText());
            if (position >= 0) {
                checks.add(new FieldCheck(rule, position, rowType.getTypeAt(position)));
            }
        }
        return new Contract(root.path("max_record_bytes").asInt(64 * 1024), checks);
    }

    private static String shown(double value) {
        return value == Math.rint(value) && !Double.isInfinite(value) ? Long.toString((long) value)
                : Double.toString(value);
    }

    /** What is wrong with this field of the row, or null. */
    String problem(GenericRowData row, JsonNode event) {
        Object value = row.getField(position);
        if (value == null) {
            JsonNode given = event == null ? null : event.get(name);
            if (given != null && !given.isNull()) {  // a number beyond what the column's type holds
                String text = given.asText();
                return name + ": " + (text.length() > 40 ? text.substring(0, 40) + "..." : text) + " is out of range";
            }
            return required ? name + ": missing" : null;
        }
        switch (type) {
            case "string": {
                String text = value.toString();
                if (minLength != null && text.length() < minLength) {
                    return name + ": empty";
                }
                if (maxLength != null && text.length() > maxLength) {
                    return name + ": longer than " + maxLength;
                }
                if (pattern != null && !pattern.matcher(text).find()) {
                    return name + ": contains a control character";
                }
                if (allowed != null && !allowed.contains(text)) {
                    return name + ": " + text + " is not one of " + String.join(", ", allowed);
                }
                return null;
            }
            case "int":
            case "float": {
                double number;
                String text;
                if (value instanceof DecimalData) {
                    BigDecimal decimal = ((DecimalData) value).toBigDecimal();
                    number = decimal.doubleValue();
                    text = decimal.stripTrailingZeros().toPlainString();
                } else {
                    number = ((Number) value).doubleValue();
                    text = value instanceof Double || value instanceof Float ? shownFloat(number) : value.toString();
                }
                if (finite && (Double.isNaN(number) || Double.isInfinite(number))) {
                    return name + ": not a finite number";
                }
                if (minimum != null && (strictMinimum ? number <= minimum : number < minimum)) {
                    return name + ": " + text + (strictMinimum ? " must be > " : " must be >= ") + shown(minimum);
                }
                if (maximum != null && number > maximum) {
                    return name + ": " + text + " must be <= " + shown(maximum);
                }
                if (allowed != null && !allowed.contains(text)) {
                    return name + ": " + text + " is not one of " + String.join(", ", allowed);
                }
                return null;
            }
            default:
                return null;
        }
    }

    private static String shownFloat(double number) {
        return Double.isNaN(number) || Double.isInfinite(number) ? Double.toString(number) : shown(number);
    }
}
