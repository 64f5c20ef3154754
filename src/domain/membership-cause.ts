/**
 * Why a customer entered or left a segment, as stored with every membership
 * event (`segment_membership_events.cause`) and published on the stream:
 * a full recompute, an order or customer change, an admin's add or remove,
 * or a CSV import of a STATIC segment's members.
 */
export type MembershipCause = 'schedule' | 'event' | 'manual' | 'import';
