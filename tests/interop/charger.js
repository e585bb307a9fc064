// An independent OCPP charger (ocpp-rpc in strict mode) running one full
// session against a central system. Strict mode validates every message in
// both directions against the official OCPP JSON schemas, so a malformed
// answer from the server fails the run.
//
// usage: node charger.js <endpoint> <identity> <ocpp1.6|ocpp2.0.1> [password]
// (<endpoint> is the base URL; ocpp-rpc connects to <endpoint>/<identity>)
// prints one JSON line; exit code 0 = the session completed and every message
// was valid.
'use strict';

const { RPCClient, createRPCError } = require('ocpp-rpc');

const [endpoint, identity, protocol, password] = process.argv.slice(2);
const failures = [];
const received = [];
const now = () => new Date().toISOString();

function check(cond, what) {
    if (!cond) failures.push(what);
}

// Valid answers to whatever the server asks right after boot.
function answer16(method, params) {
    switch (method) {
        case 'GetConfiguration':
            return {
                configurationKey: [
                    { key: 'ChargingScheduleAllowedChargingRateUnit', readonly: true, value: 'Current' },
                    { key: 'HeartbeatInterval', readonly: false, value: '300' },
                ],
                unknownKey: (params.key || []).filter(
                    (k) => !['ChargingScheduleAllowedChargingRateUnit', 'HeartbeatInterval'].includes(k)),
            };
        case 'GetLocalListVersion': return { listVersion: 0 };
        case 'GetCompositeSchedule': return { status: 'Rejected' };
        case 'ClearChargingProfile': return { status: 'Unknown' };
        case 'DataTransfer': return { status: 'UnknownVendorId' };
        case 'ChangeConfiguration': case 'SetChargingProfile': case 'TriggerMessage':
        case 'ChangeAvailability': case 'SendLocalList': case 'ClearCache':
        case 'Reset': case 'RemoteStartTransaction': case 'RemoteStopTransaction':
        case 'CancelReservation': case 'ReserveNow':
            return { status: 'Accepted' };
        case 'UnlockConnector': return { status: 'Unlocked' };
        default: throw createRPCError('NotImplemented');
    }
}

function answer201(method, params) {
    switch (method) {
        case 'GetVariables':
            return {
                getVariableResult: params.getVariableData.map((d) => {
                    const known = d.component.name === 'SmartChargingCtrlr' && d.variable.name === 'RateUnit';
                    const out = {
                        attributeStatus: known ? 'Accepted' : 'UnknownVariable',
                        component: d.component,
                        variable: d.variable,
                    };
                    if (known) out.attributeValue = 'A';
                    return out;
                }),
            };
        case 'SetVariables':
            return {
                setVariableResult: params.setVariableData.map((d) => ({
                    attributeStatus: 'Accepted', component: d.component, variable: d.variable,
                })),
            };
        case 'GetLocalListVersion': return { versionNumber: 0 };
        case 'ClearChargingProfile': return { status: 'Unknown' };
        case 'GetCompositeSchedule': return { status: 'Rejected' };
        case 'DataTransfer': return { status: 'UnknownVendorId' };
        case 'SetChargingProfile': case 'TriggerMessage': case 'ChangeAvailability':
        case 'SendLocalList': case 'ClearCache': case 'Reset': case 'RequestStartTransaction':
        case 'RequestStopTransaction': case 'CancelReservation': case 'ReserveNow':
            return { status: 'Accepted' };
        case 'UnlockConnector': return { status: 'Unlocked' };
        default: throw createRPCError('NotImplemented');
    }
}

function meter16(wh, amps) {
    return {
        timestamp: now(),
        sampledValue: [
            { value: String(wh), measurand: 'Energy.Active.Import.Register', unit: 'Wh', context: 'Sample.Periodic' },
            { value: String(amps), measurand: 'Current.Import', phase: 'L1', unit: 'A', context: 'Sample.Periodic' },
            { value: String(amps * 230), measurand: 'Power.Active.Import', unit: 'W', context: 'Sample.Periodic' },
        ],
    };
}

async function session16(cli) {
    const boot = await cli.call('BootNotification', {
        chargePointVendor: 'ocpp-rpc', chargePointModel: 'interop', firmwareVersion: '1.0',
    });
    check(boot.status === 'Accepted', `boot ${boot.status}`);
    await cli.call('StatusNotification', { connectorId: 1, errorCode: 'NoError', status: 'Available', timestamp: now() });
    await cli.call('Heartbeat', {});
    await cli.call('StatusNotification', { connectorId: 1, errorCode: 'NoError', status: 'Preparing', timestamp: now() });
    const auth = await cli.call('Authorize', { idTag: 'INTEROP1' });
    check(auth.idTagInfo.status === 'Accepted', `authorize ${auth.idTagInfo.status}`);
    const start = await cli.call('StartTransaction', { connectorId: 1, idTag: 'INTEROP1', meterStart: 1000, timestamp: now() });
    check(Number.isInteger(start.transactionId), 'transactionId');
    await cli.call('StatusNotification', { connectorId: 1, errorCode: 'NoError', status: 'Charging', timestamp: now() });
    for (let i = 1; i <= 3; i++) {
        await cli.call('MeterValues', { connectorId: 1, transactionId: start.transactionId, meterValue: [meter16(1000 + 100 * i, 16)] });
    }
    await cli.call('StopTransaction', {
        transactionId: start.transactionId, meterStop: 1400, timestamp: now(), reason: 'EVDisconnected', idTag: 'INTEROP1',
    });
    await cli.call('StatusNotification', { connectorId: 1, errorCode: 'NoError', status: 'Available', timestamp: now() });
    return { transactionId: start.transactionId };
}

function meter201(wh, amps, context) {
    return {
        timestamp: now(),
        sampledValue: [
            { value: wh, measurand: 'Energy.Active.Import.Register', context, unitOfMeasure: { unit: 'Wh' } },
            { value: amps, measurand: 'Current.Import', phase: 'L1', context, unitOfMeasure: { unit: 'A' } },
            { value: amps * 230, measurand: 'Power.Active.Import', context, unitOfMeasure: { unit: 'W' } },
        ],
    };
}

async function session201(cli) {
    const boot = await cli.call('BootNotification', {
        reason: 'PowerUp', chargingStation: { model: 'interop', vendorName: 'ocpp-rpc', firmwareVersion: '1.0' },
    });
    check(boot.status === 'Accepted', `boot ${boot.status}`);
    await cli.call('StatusNotification', { timestamp: now(), connectorStatus: 'Available', evseId: 1, connectorId: 1 });
    await cli.call('Heartbeat', {});
    const txId = `interop-${Date.now()}`;
    const evse = { id: 1, connectorId: 1 };
    const token = { idToken: 'INTEROP1', type: 'ISO14443' };
    await cli.call('StatusNotification', { timestamp: now(), connectorStatus: 'Occupied', evseId: 1, connectorId: 1 });
    await cli.call('TransactionEvent', {
        eventType: 'Started', timestamp: now(), triggerReason: 'CablePluggedIn', seqNo: 0,
        transactionInfo: { transactionId: txId, chargingState: 'EVConnected' }, evse,
        meterValue: [meter201(1000, 0, 'Transaction.Begin')],
    });
    const auth = await cli.call('Authorize', { idToken: token });
    check(auth.idTokenInfo.status === 'Accepted', `authorize ${auth.idTokenInfo.status}`);
    const authorized = await cli.call('TransactionEvent', {
        eventType: 'Updated', timestamp: now(), triggerReason: 'Authorized', seqNo: 1,
        transactionInfo: { transactionId: txId, chargingState: 'Charging' }, evse, idToken: token,
    });
    check(!authorized.idTokenInfo || authorized.idTokenInfo.status === 'Accepted', 'tx idTokenInfo');
    for (let i = 1; i <= 3; i++) {
        await cli.call('TransactionEvent', {
            eventType: 'Updated', timestamp: now(), triggerReason: 'MeterValuePeriodic', seqNo: 1 + i,
            transactionInfo: { transactionId: txId, chargingState: 'Charging' }, evse,
            meterValue: [meter201(1000 + 100 * i, 16, 'Sample.Periodic')],
        });
    }
    await cli.call('TransactionEvent', {
        eventType: 'Ended', timestamp: now(), triggerReason: 'EVCommunicationLost', seqNo: 5,
        transactionInfo: { transactionId: txId, chargingState: 'Idle', stoppedReason: 'EVDisconnected' },
        evse, idToken: token, meterValue: [meter201(1400, 0, 'Transaction.End')],
    });
    await cli.call('StatusNotification', { timestamp: now(), connectorStatus: 'Available', evseId: 1, connectorId: 1 });
    return { transactionId: txId };
}

async function main() {
    const options = { endpoint, identity, protocols: [protocol], strictMode: true, reconnect: false, callTimeoutMs: 15000 };
    if (password) options.password = password;
    const cli = new RPCClient(options);
    cli.on('strictValidationFailure', (ev) => {
        failures.push(`schema: ${ev.messageId || ''} ${ev.method || ''} ${ev.error && ev.error.message}`);
    });
    cli.handle(({ method, params }) => {
        received.push(method);
        return protocol === 'ocpp1.6' ? answer16(method, params) : answer201(method, params);
    });
    await cli.connect();
    check(cli.protocol === protocol, `negotiated ${cli.protocol}`);
    const result = protocol === 'ocpp1.6' ? await session16(cli) : await session201(cli);
    await cli.close({ code: 1000 });
    console.log(JSON.stringify({ ok: failures.length === 0, protocol, failures, received, ...result }));
    process.exit(failures.length === 0 ? 0 : 1);
}

main().catch((err) => {
    console.log(JSON.stringify({ ok: false, protocol, failures: [...failures, String(err && (err.stack || err))], received }));
    process.exit(1);
});
