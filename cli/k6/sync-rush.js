// sync-rush: one coupon of stock 450, 200 VUs for 9 minutes, ?wait=true
// issuance, 0.6 s think time (cli/scenarios/sync-rush.json).
//   k6 run -e DIBS_ADMIN_TOKEN=... cli/k6/sync-rush.js
import { sleep } from 'k6';
import { createCoupons, issue, randomInt } from './common.js';

export const options = {
  vus: 200,
  duration: '9m',
  thresholds: { 'http_req_duration{name:issue?wait=true}': ['p(95)<20'] },
};

export function setup() {
  return { ids: createCoupons('k6-sync-rush', 1, 450, 1000) };
}

export default function (data) {
  issue(data.ids[0], randomInt(1, 1000000), true);
  sleep(0.6);
}
