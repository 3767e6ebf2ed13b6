// hundred-coupons: 100 coupons, 20 each of stock 100/500/1,000/2,000/5,000;
// coupon drawn from the 100, user from 1..1,000,000; 2 s think time; ramp
// 0 -> 20 (1 min) -> 50 (2 min) -> 100 (2 min), hold (4 min), -> 0 (1 min)
// (cli/scenarios/hundred-coupons.json).
//   k6 run -e DIBS_ADMIN_TOKEN=... cli/k6/hundred-coupons.js
import { sleep } from 'k6';
import { createCoupons, issue, randomInt } from './common.js';

export const options = {
  stages: [
    { duration: '1m', target: 20 },
    { duration: '2m', target: 50 },
    { duration: '2m', target: 100 },
    { duration: '4m', target: 100 },
    { duration: '1m', target: 0 },
  ],
  thresholds: { 'http_req_duration{name:issue}': ['p(99)<5'] },
};

export function setup() {
  let ids = [];
  for (const [quantity, discount] of
       [[100, 1000], [500, 3000], [1000, 5000], [2000, 10000], [5000, 20000]]) {
    ids = ids.concat(createCoupons('k6-hundred', 20, quantity, discount));
  }
  return { ids };
}

export default function (data) {
  issue(data.ids[randomInt(0, data.ids.length - 1)], randomInt(1, 1000000), false);
  sleep(2);
}
