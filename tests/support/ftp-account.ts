/** The account every fixture server accepts and every raw client logs in with by default (the Meshlium default). */
export const USER = 'ota';
export const PASS = 'libelium';
