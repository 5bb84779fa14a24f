package creditplatform.flink;

import java.util.Collections;
import java.util.HashSet;
import java.util.Set;

import org.apache.flink.api.common.serialization.DeserializationSchema;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.configuration.ConfigOption;
import org.apache.flink.configuration.ConfigOptions;
import org.apache.flink.configuration.ReadableConfig;
import org.apache.flink.table.api.ValidationException;
import org.apache.flink.table.connector.ChangelogMode;
import org.apache.flink.table.connector.format.DecodingFormat;
import org.apache.flink.table.connector.source.DynamicTableSource;
import org.apache.flink.table.data.RowData;
import org.apache.flink.table.factories.DeserializationFormatFactory;
import org.apache.flink.table.factories.DynamicTableFactory;
import org.apache.flink.table.factories.FactoryUtil;
import org.apache.flink.table.types.DataType;
import org.apache.flink.table.types.logical.LogicalTypeRoot;
import org.apache.flink.table.types.logical.RowType;

/**
 * The format {@code contract-json}: JSON events checked against the platform's event contract, with
 * no record ever dropped. Flink's own {@code json} format either fails the job on a record it cannot
 * read or, with {@code json.ignore-parse-errors}, skips it without a trace; this one emits every
 * record. A record that is not JSON, has a value of the wrong type, or breaks a bound of the
 * contract comes out with its typed columns as parsed (null where unreadable), {@code _error} saying
 * what is wrong and {@code _raw} holding the payload; the job routes such rows to its dead-letter
 * topic and judges only the others. Each refusal also counts in the source's metric
 * {@code contractRecordsRefused}.
 *
 * <p>The table declares the two string columns {@code _error} and {@code _raw} among its physical
 * columns. Option {@code contract-json.rules}: the contract's field rules as JSON, rendered from
 * {@code credit_platform.contracts.events.field_rules} (the one definition of the contract).
 */
public final class ContractJsonFormatFactory implements DeserializationFormatFactory {

    public static final String IDENTIFIER = "contract-json";
    public static final String ERROR_COLUMN = "_error";
    public static final String RAW_COLUMN = "_raw";

    public static final ConfigOption<String> RULES = ConfigOptions.key("rules").stringType().noDefaultValue()
            .withDescription("The event contract's field rules as a JSON array (see credit_platform.contracts).");

    @Override
    public DecodingFormat<DeserializationSchema<RowData>> createDecodingFormat(
            DynamicTableFactory.Context context, ReadableConfig formatOptions) {
        FactoryUtil.validateFactoryOptions(this, formatOptions);
        final String rules = formatOptions.get(RULES);
        return new DecodingFormat<DeserializationSchema<RowData>>() {
            @Override
            public DeserializationSchema<RowData> createRuntimeDecoder(
                    DynamicTableSource.Context sourceContext, DataType physicalDataType) {
                RowType rowType = (RowType) physicalDataType.getLogicalType();
                for (String column : new String[] {ERROR_COLUMN, RAW_COLUMN}) {
                    int position = rowType.getFieldNames().indexOf(column);
                    if (position < 0 || !rowType.getTypeAt(position).is(LogicalTypeRoot.VARCHAR)) {
                        throw new ValidationException("format " + IDENTIFIER + " needs a physical STRING column `"
                                + column + "` (where a refused record says what is wrong)");
                    }
                }
                TypeInformation<RowData> produced = sourceContext.createTypeInformation(physicalDataType);
                return new ContractJsonDeserializationSchema(rowType, produced, FieldCheck.parse(rules, rowType));
            }

            @Override
            public ChangelogMode getChangelogMode() {
                return ChangelogMode.insertOnly();
            }
        };
    }

    @Override
    public String factoryIdentifier() {
        return IDENTIFIER;
    }

    @Override
    public Set<ConfigOption<?>> requiredOptions() {
        Set<ConfigOption<?>> options = new HashSet<>();
        options.add(RULES);
        return options;
    }

    @Override
    public Set<ConfigOption<?>> optionalOptions() {
        return Collections.emptySet();
    }
}
