export { QueueBoard, QUEUE_BOARD_PATH, BOARD_QUEUES, type QueueBoardOptions } from './queue-board.js';
export { queueBoardRoutes, SIGN_IN_PATH, SIGN_OUT_PATH, type QueueBoardRoutesOptions } from './queue-board-routes.js';
